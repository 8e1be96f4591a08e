// Typed REST calls of the gateway. Every answer is the seeds' BaseResponseDto; a call resolves
// with its `data` (typed from the generated OpenAPI types) or rejects with an ApiError carrying
// the envelope's `code`.
import { ApiError } from './errors.js';
import type { components, paths } from './generated/openapi.js';

type Schemas = components['schemas'];
/** The `data` of a path's JSON answer with the given status. */
type DataOf<R> = R extends { content: { 'application/json': { data: infer D } } } ? D : never;

export type TitleResult = DataOf<paths['/api/getinfo']['post']['responses'][200]>;
export type JobAccepted = DataOf<paths['/api/getinfo/async']['post']['responses'][202]>;
export type JobState = DataOf<paths['/api/jobs/{jobId}']['get']['responses'][200]>;
export type LiveStreamPage = DataOf<paths['/api/v1/live-stream/my-broadcasted-streams']['get']['responses'][200]>;
export type LiveStream = Schemas['LiveStream'];
export type Pagination = Schemas['Pagination'];
export type TitleData = Schemas['TitleData'];
export type Failure = Schemas['Failure'];
export type PageQuery = NonNullable<paths['/api/v1/live-stream/my-watched-streams']['get']['parameters']['query']>;

/** A bearer token, or a function asked for one before every call (so a refreshed token is used). */
export type TokenSource = string | (() => string | null | undefined);

export interface ClientOptions {
  /** The gateway, e.g. `http://localhost:3000` (no `/api`). */
  baseUrl: string;
  /** Sent as `X-API-Key` on the Netflix endpoints. */
  apiKey?: string;
  /** Sent as `Authorization: Bearer …` on the live-stream endpoints. */
  token?: TokenSource;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Passed to fetch: `include` for a cross-origin page that sends cookies. */
  credentials?: RequestCredentials;
}

export interface Client {
  /** POST /api/getinfo/async: starts a title job; 202 with `{jobId, status, progress}`. */
  getInfoAsync(url: string): Promise<JobAccepted>;
  /** POST /api/getinfo: runs a title job and answers when it ends (TIMEOUT with `details.jobId`). */
  getInfo(url: string): Promise<TitleResult>;
  /** GET /api/jobs/{jobId}: a job's current state (JOB_NOT_FOUND for an unknown id). */
  getJob(jobId: string): Promise<JobState>;
  /** GET /api/v1/live-stream/my-broadcasted-streams (needs a token). */
  myBroadcastedStreams(query?: PageQuery): Promise<LiveStreamPage>;
  /** GET /api/v1/live-stream/my-watched-streams (needs a token). */
  myWatchedStreams(query?: PageQuery): Promise<LiveStreamPage>;
  /** GET /api/v1/live-stream/whats-live-now (token optional). */
  whatsLiveNow(query?: PageQuery): Promise<LiveStreamPage>;
}

type Auth = 'apiKey' | 'bearer' | 'none';

interface Envelope {
  isSuccess?: unknown;
  code?: unknown;
  data?: unknown;
  errors?: unknown;
}

export function createClient(options: ClientOptions): Client {
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);

  const token = (): string | null | undefined =>
    typeof options.token === 'function' ? options.token() : options.token;

  async function call<T>(
    method: 'GET' | 'POST',
    path: string,
    auth: Auth,
    extra: { body?: unknown; query?: PageQuery } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (extra.body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth === 'apiKey' && options.apiKey) headers['X-API-Key'] = options.apiKey;
    const bearer = auth === 'bearer' ? token() : null;
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(extra.query ?? {})) {
      if (value !== undefined && value !== null) query.set(key, String(value));
    }
    const qs = query.toString();
    const url = `${base}${path}${qs ? `?${qs}` : ''}`;
    let response: Response;
    try {
      response = await doFetch(url, {
        method,
        headers,
        body: extra.body === undefined ? undefined : JSON.stringify(extra.body),
        credentials: options.credentials,
      });
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new ApiError(0, 'NETWORK_ERROR', `${method} ${path}: no answer (${reason})`, { cause });
    }
    const text = await response.text();
    let body: Envelope | null = null;
    try {
      const parsed: unknown = text ? JSON.parse(text) : null;
      body = parsed !== null && typeof parsed === 'object' ? (parsed as Envelope) : null;
    } catch {
      body = null; // not JSON: not the gateway's envelope (a proxy's error page, say)
    }
    if (response.ok && body?.isSuccess === true) return body.data as T;
    const errors = Array.isArray(body?.errors) ? body.errors.map(String) : [];
    const code = typeof body?.code === 'string' ? body.code : `HTTP_${response.status}`;
    const message = errors.length
      ? errors.join('; ')
      : `${method} ${path} failed: ${response.status} ${response.statusText}`.trim();
    throw new ApiError(response.status, code, message, { errors: errors.length ? errors : undefined, details: body?.data });
  }

  const LS = '/api/v1/live-stream';
  return {
    getInfoAsync: (url) => call('POST', '/api/getinfo/async', 'apiKey', { body: { url } }),
    getInfo: (url) => call('POST', '/api/getinfo', 'apiKey', { body: { url } }),
    getJob: (jobId) => call('GET', `/api/jobs/${encodeURIComponent(jobId)}`, 'apiKey'),
    myBroadcastedStreams: (query) => call('GET', `${LS}/my-broadcasted-streams`, 'bearer', { query }),
    myWatchedStreams: (query) => call('GET', `${LS}/my-watched-streams`, 'bearer', { query }),
    whatsLiveNow: (query) => call('GET', `${LS}/whats-live-now`, 'bearer', { query }),
  };
}
