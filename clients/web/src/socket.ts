// One Socket.IO connection for the page. Connection state recovery is socket.io-client's
// default: after a drop it reconnects with its session id and offset, and `socket.recovered`
// says whether the server restored the rooms and replayed what was missed.
import { useEffect, useState } from 'react';
import { io, type Socket } from 'socket.io-client';

import { API_BASE } from './config';

export const socket: Socket = io(API_BASE, { autoConnect: true });

declare global {
  interface Window {
    __streamproc?: { socket: Socket };
  }
}

// For the browser tests (drop the connection, read `recovered`); nothing on the page uses it.
window.__streamproc = { socket };

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'recovered' | 'offline';

function current(s: Socket): ConnectionState {
  if (s.connected) return s.recovered ? 'recovered' : 'connected';
  return s.active ? 'connecting' : 'offline';
}

export function useConnection(s: Socket = socket): ConnectionState {
  const [state, setState] = useState<ConnectionState>(() => current(s));
  useEffect(() => {
    let everConnected = s.connected;
    const onConnect = () => {
      everConnected = true;
      setState(s.recovered ? 'recovered' : 'connected');
    };
    const onDisconnect = () => setState(s.active ? 'reconnecting' : 'offline');
    const onAttempt = () => setState(everConnected ? 'reconnecting' : 'connecting');
    // before the first connection this is still "connecting", not "reconnecting"
    const onConnectError = () => setState(!s.active ? 'offline' : everConnected ? 'reconnecting' : 'connecting');
    s.on('connect', onConnect);
    s.on('disconnect', onDisconnect);
    s.on('connect_error', onConnectError);
    s.io.on('reconnect_attempt', onAttempt);
    setState(current(s));
    return () => {
      s.off('connect', onConnect);
      s.off('disconnect', onDisconnect);
      s.off('connect_error', onConnectError);
      s.io.off('reconnect_attempt', onAttempt);
    };
  }, [s]);
  return state;
}
