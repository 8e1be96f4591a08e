// A job subscription over socket.io-client: job:subscribe, progress callbacks, and a promise of
// the job:completed payload (or a JobError built from job:error).
import type { Socket } from 'socket.io-client';

import { JobError } from './errors.js';
import type { JobCompleted, JobErrorEvent, JobProgress, JobSubscribeAck } from './generated/events.js';

export interface SubscribeJobOptions {
  /** Every step of this job, in order, each once (a replay after a reconnect is not repeated). */
  onProgress?: (progress: JobProgress) => void;
  /** Aborting unsubscribes and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Subscribes `socket` to `jobId` and resolves with the job's `job:completed` payload, or rejects
 * with a JobError from `job:error` (or from an error ack such as JOB_NOT_FOUND). Unsubscribes
 * when it settles.
 *
 * Reconnects: when socket.io restores the session (`socket.recovered`, connection state
 * recovery), the gateway has kept the subscription and delivers the missed events; otherwise the
 * job is subscribed again and the gateway sends its current state. Either way the promise
 * settles. A job that already ended when the subscription arrives is answered at once (the
 * gateway replays its steps and the terminal event).
 */
export function subscribeJob(socket: Socket, jobId: string, options: SubscribeJobOptions = {}): Promise<JobCompleted> {
  return new Promise<JobCompleted>((resolve, reject) => {
    let settled = false;
    let last: JobProgress | null = null;

    const onProgress = (progress: JobProgress): void => {
      if (settled || progress.jobId !== jobId) return;
      // A subscription made again after a reconnect without recovery replays the steps: skip
      // what was already seen, so callers see each step once and progress never goes back.
      if (last && (progress.progress < last.progress || (progress.progress === last.progress && progress.stepCode === last.stepCode))) {
        return;
      }
      last = progress;
      options.onProgress?.(progress);
    };
    const onCompleted = (completed: JobCompleted): void => {
      if (completed.jobId === jobId) settle(() => resolve(completed));
    };
    const onError = (event: JobErrorEvent): void => {
      if (event.jobId === jobId) settle(() => reject(JobError.fromEvent(event, jobId)));
    };
    const subscribe = (): void => {
      socket.emit('job:subscribe', jobId, (ack: JobSubscribeAck) => {
        if (ack && ack.ok === false) settle(() => reject(new JobError(ack.error.code, ack.error.message, jobId)));
      });
    };
    const onConnect = (): void => {
      if (!socket.recovered) subscribe();
    };
    const onAbort = (): void => {
      settle(() => reject(options.signal?.reason ?? new Error('aborted')));
    };

    function settle(finish: () => void): void {
      if (settled) return;
      settled = true;
      socket.off('job:progress', onProgress);
      socket.off('job:completed', onCompleted);
      socket.off('job:error', onError);
      socket.off('connect', onConnect);
      options.signal?.removeEventListener('abort', onAbort);
      if (socket.connected) socket.emit('job:unsubscribe', jobId);
      finish();
    }

    if (options.signal?.aborted) {
      reject(options.signal.reason ?? new Error('aborted'));
      return;
    }
    options.signal?.addEventListener('abort', onAbort);
    socket.on('job:progress', onProgress);
    socket.on('job:completed', onCompleted);
    socket.on('job:error', onError);
    // Not yet connected: the first `connect` subscribes (emitting now as well would subscribe
    // twice, once from socket.io's send buffer).
    socket.on('connect', onConnect);
    if (socket.connected) subscribe();
  });
}
