// What the package tests share: the stack's addresses from the environment (pytest's
// tests/e2e/test_js_client.py starts the stack and sets them), HS256 tokens, live-stream set-up
// through the gateway's REST commands, and eventually() for asynchronous results.
import { createHmac, randomBytes } from 'node:crypto';
import { io } from 'socket.io-client';
import type { ManagerOptions, Socket, SocketOptions } from 'socket.io-client';

const HOW = 'run these tests through `pytest tests/e2e/test_js_client.py` (it starts Kafka, the database, a worker, the gateway and a fake Netflix, and sets GATEWAY_URL, API_KEY, JWT_SECRET, TITLE_URLS, FORBIDDEN_TITLE_URL, SLOW_TITLE_URLS)';

/** An environment variable the stack tests need; missing, the test fails saying how to run it. */
export function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: ${HOW}`);
  return value;
}

export const gatewayUrl = (): string => env('GATEWAY_URL').replace(/\/+$/, '');
export const apiKey = (): string => env('API_KEY');

/** The fresh fake-Netflix titles pytest registered; each test file owns fixed indices. */
export function titleUrl(index: number): string {
  const urls = env('TITLE_URLS').split(',').filter(Boolean);
  if (index >= urls.length) throw new Error(`TITLE_URLS has ${urls.length} titles, test wants #${index}: ${HOW}`);
  return urls[index];
}

export const newUserId = (): string => randomBytes(12).toString('hex');

/** An HS256 token for `userId` signed with the gateway's JWT_SECRET (exp in `ttlSeconds`). */
export function token(userId: string, ttlSeconds = 600, secret = env('JWT_SECRET')): string {
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const claims = { sub: userId, username: `u${userId.slice(-4)}`, name: 'N', surname: 'S', exp: Math.floor(Date.now() / 1000) + ttlSeconds };
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value that is not null/undefined/false, or fails after
 * `timeoutMs` with what was awaited and the last error (never a timed assert: a deadline). */
export async function eventually<T>(
  check: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value !== null && value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms${last ? `; last error: ${String(last)}` : ''}`);
    }
    await sleep(50);
  }
}

const sockets: Socket[] = [];

/** A socket.io-client socket to the gateway, closed by closeSockets(). */
export function connect(options: Partial<ManagerOptions & SocketOptions> = {}): Socket {
  const socket = io(gatewayUrl(), { transports: ['websocket'], ...options });
  sockets.push(socket);
  return socket;
}

export function closeSockets(): void {
  for (const socket of sockets.splice(0)) socket.disconnect();
}

// -- live streams through the gateway's REST commands (gateway/http/livestream.py) ---------------

const LS = '/api/v1/live-stream';

async function command(user: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${gatewayUrl()}${LS}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token(user)}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** Creates and starts a stream hosted by `host`; its id once the start is accepted. */
export async function liveStream(host: string, title: string): Promise<string> {
  const created = await command(host, 'POST', '', { title, liveStreamType: 'solo', channelName: 'channel-name', interest: 'music' });
  if (created.status !== 201 && created.status !== 202) throw new Error(`create: ${created.status} ${JSON.stringify(created.body)}`);
  const id: string = created.body.data.id;
  // a 202 create may not be projected yet: start answers 404 until it is
  await eventually(async () => {
    const started = await command(host, 'POST', `/${id}/start`);
    if (started.status === 200 || started.status === 202) return true;
    throw new Error(`start: ${started.status} ${JSON.stringify(started.body)}`);
  }, `stream ${id} started`);
  return id;
}

/** `user` joins stream `id` (audience unless they are its host), retried until it is live. */
export async function join(user: string, id: string): Promise<string> {
  return eventually(async () => {
    const joined = await command(user, 'POST', '/join', { liveStreamId: id });
    if (joined.status === 200 || joined.status === 202) return joined.body.data.role as string;
    throw new Error(`join: ${joined.status} ${JSON.stringify(joined.body)}`);
  }, `${user} joined ${id}`);
}

export async function endStream(host: string, id: string): Promise<void> {
  await eventually(async () => {
    const ended = await command(host, 'POST', `/${id}/end`);
    if (ended.status === 200 || ended.status === 202) return true;
    throw new Error(`end: ${ended.status} ${JSON.stringify(ended.body)}`);
  }, `stream ${id} ended`);
}
