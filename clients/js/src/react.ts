// @streamproc/client/react: useJob (ours: reconnect-aware, typed) and the seed's useJobProgress
// (verbatim in src/seeds/useJobProgress.ts; it connects to GATEWAY_URL, see configureSeeds).
import { useEffect, useState } from 'react';
import { io } from 'socket.io-client';
import type { ManagerOptions, Socket, SocketOptions } from 'socket.io-client';

import { JobError } from './errors.js';
import type { JobCompleted, JobProgress } from './generated/events.js';
import { subscribeJob } from './jobs.js';

export { useJobProgress } from './seeds/useJobProgress.js';
export { API_KEY, GATEWAY_URL, configureSeeds } from './seeds/config.js';

export interface UseJobOptions {
  /** A socket to use (it is not disconnected by the hook)… */
  socket?: Socket;
  /** …or the gateway to open one to (closed when the hook unmounts or jobId changes). */
  url?: string;
  /** Options of the socket the hook opens from `url`. */
  ioOptions?: Partial<ManagerOptions & SocketOptions>;
}

export interface JobView {
  /** The latest step (never goes back, each step once). */
  progress: JobProgress | null;
  /** The job:completed payload: `result.data` is the title, `result.source` where it came from. */
  result: JobCompleted | null;
  /** The job's error (`error.code`: SCRAPE_ERROR, TITLE_NOT_FOUND, …). */
  error: JobError | null;
  /** Whether the socket is connected now. */
  connected: boolean;
  /** Whether the last reconnect restored the session (socket.io connection state recovery). */
  recovered: boolean;
}

/** Follows one job over Socket.IO. Pass `{ socket }` or `{ url }`; `jobId` null follows nothing. */
export function useJob(jobId: string | null | undefined, options: UseJobOptions): JobView {
  const { socket: given, url } = options;
  const [view, setView] = useState<JobView>({
    progress: null,
    result: null,
    error: null,
    connected: given?.connected ?? false,
    recovered: false,
  });
  // ioOptions are read when the socket is opened; a new object each render must not reopen it
  const [ioOptions] = useState(options.ioOptions);

  useEffect(() => {
    if (!given && !url) throw new Error('useJob needs { socket } or { url }');
    const socket = given ?? io(url as string, ioOptions);
    let live = true;
    const update = (patch: Partial<JobView>): void => {
      if (live) setView((prev) => ({ ...prev, ...patch }));
    };
    const onConnection = (): void => update({ connected: socket.connected, recovered: socket.recovered });
    socket.on('connect', onConnection);
    socket.on('disconnect', onConnection);
    update({ progress: null, result: null, error: null, connected: socket.connected, recovered: socket.recovered });

    const abort = new AbortController();
    if (jobId) {
      subscribeJob(socket, jobId, { signal: abort.signal, onProgress: (progress) => update({ progress }) }).then(
        (result) => update({ result }),
        (error: unknown) => {
          if (error instanceof JobError) update({ error });
          else if (!abort.signal.aborted) update({ error: new JobError('CLIENT_ERROR', String(error), jobId) });
        },
      );
    }
    return () => {
      live = false;
      abort.abort();
      socket.off('connect', onConnection);
      socket.off('disconnect', onConnection);
      if (!given) socket.disconnect();
    };
  }, [jobId, given, url, ioOptions]);

  return view;
}
