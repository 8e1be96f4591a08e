import { useEffect, useState } from 'react';
import { io, Socket } from 'socket.io-client';
import { GATEWAY_URL } from './config.js';

interface JobProgress {
  jobId: string;
  progress: number;
  status: string;
  step: string;
}

export function useJobProgress(jobId: string | null) {
  const [progress, setProgress] = useState<JobProgress | null>(null);
  const [data, setData] = useState<any>(null);
  const [error, setError] = useState<any>(null);

  useEffect(() => {
    if (!jobId) return;

    const socket = io(GATEWAY_URL);

    socket.emit('job:subscribe', jobId);

    socket.on('job:progress', setProgress);
    socket.on('job:completed', (result) => {
      setData(result.data);
      socket.emit('job:unsubscribe', jobId);
    });
    socket.on('job:error', (err) => {
      setError(err.error);
      socket.emit('job:unsubscribe', jobId);
    });

    return () => {
      socket.emit('job:unsubscribe', jobId);
      socket.disconnect();
    };
  }, [jobId]);

  return { progress, data, error };
}
