// Every REST call of createClient against the real gateway: the data on success, and an
// ApiError with the gateway's error code on failure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ApiError, createClient } from '../src/index.js';
import type { Client, LiveStreamPage } from '../src/index.js';
import { apiKey, endStream, env, eventually, gatewayUrl, join, liveStream, newUserId, titleUrl, token } from './support.js';

/** The title pytest's fake Netflix serves for the URL: `JS client title <id>`. */
const titleOf = (url: string): string => `JS client title ${/\/title\/(\d+)/.exec(url)?.[1]}`;

async function apiError(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    (value) => new Error(`expected an ApiError, got ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  if (!(error instanceof ApiError)) throw error;
  return error;
}

let client: Client;
beforeAll(() => {
  client = createClient({ baseUrl: gatewayUrl(), apiKey: apiKey() });
});

describe('Netflix title jobs', () => {
  it('getInfoAsync answers 202 data at once; getJob follows the job to its end', async () => {
    const url = titleUrl(0);
    const accepted = await client.getInfoAsync(url);
    expect(accepted).toEqual({ jobId: expect.any(String), status: 'pending', progress: 0 });
    const done = await eventually(async () => {
      const state = await client.getJob(accepted.jobId);
      return state.status === 'completed' && state;
    }, 'the job to complete');
    expect(done.progress).toBe(100);
    expect(done.source).toBe('netflix');
    expect(done.data?.title).toBe(titleOf(url));
  });

  it('getInfoAsync without an API key: UNAUTHORIZED', async () => {
    const anonymous = createClient({ baseUrl: gatewayUrl() });
    const error = await apiError(anonymous.getInfoAsync(titleUrl(0)));
    expect(error.status).toBe(401);
    expect(error.code).toBe('UNAUTHORIZED');
  });

  it('getInfoAsync with a URL that is not a Netflix title: INVALID_URL', async () => {
    const error = await apiError(client.getInfoAsync('https://example.com/title/1'));
    expect(error.status).toBe(400);
    expect(error.code).toBe('INVALID_URL');
    expect(error.errors.length).toBeGreaterThan(0);
  });

  it('getInfo answers with the title when the job ends', async () => {
    const url = titleUrl(1);
    const result = await client.getInfo(url);
    expect(result.jobId).toEqual(expect.any(String));
    expect(result.source).toBe('netflix');
    expect(result.title).toBe(titleOf(url));
  });

  it('getInfo of a title Netflix refuses (403): SCRAPE_ERROR with the jobId', async () => {
    const error = await apiError(client.getInfo(env('FORBIDDEN_TITLE_URL')));
    expect(error.status).toBe(502);
    expect(error.code).toBe('SCRAPE_ERROR');
    expect(error.message).toBe('Failed to fetch Netflix page: 403');
    expect(error.details).toEqual({ jobId: expect.any(String) });
  });

  it('getJob of an unknown job: JOB_NOT_FOUND', async () => {
    const error = await apiError(client.getJob('00000000-0000-4000-8000-000000000000'));
    expect(error.status).toBe(404);
    expect(error.code).toBe('JOB_NOT_FOUND');
  });
});

describe('live-stream history', () => {
  const host = newUserId();
  const viewer = newUserId();
  let ended: string;
  let live: string;

  beforeAll(async () => {
    ended = await liveStream(host, 'ended one');
    await join(viewer, ended);
    await endStream(host, ended);
    live = await liveStream(host, 'live one');
  });

  const asUser = (user: string | null): Client =>
    createClient({ baseUrl: gatewayUrl(), token: () => (user ? token(user) : null) });

  it('myBroadcastedStreams: the host sees the ended stream as host', async () => {
    const page = await eventually(async () => {
      const p = await asUser(host).myBroadcastedStreams({ page: 1, limit: 10 });
      return p.pagination.totalItems === 1 && p;
    }, 'the ended stream in the host history');
    expect(page.list.map((s) => [s.id, s.role, s.status])).toEqual([[ended, 'host', 'ended']]);
    expect(page.pagination).toEqual({
      currentPage: 1,
      totalPages: 1,
      totalItems: 1,
      itemsPerPage: 10,
      hasNextPage: false,
      hasPrevPage: false,
    });
  });

  it('myBroadcastedStreams without a token: UNAUTHORIZED', async () => {
    const error = await apiError(asUser(null).myBroadcastedStreams());
    expect(error.status).toBe(401);
    expect(error.code).toBe('UNAUTHORIZED');
  });

  it('myWatchedStreams: the viewer sees it as audience', async () => {
    const page = await eventually(async () => {
      const p = await asUser(viewer).myWatchedStreams();
      return p.pagination.totalItems === 1 && p;
    }, 'the ended stream in the viewer history');
    expect(page.list.map((s) => [s.id, s.role])).toEqual([[ended, 'audience']]);
    expect(page.pagination.itemsPerPage).toBe(10); // the default limit
  });

  it('myWatchedStreams with limit 0: VALIDATION_ERROR', async () => {
    const error = await apiError(asUser(viewer).myWatchedStreams({ limit: 0 }));
    expect(error.status).toBe(400);
    expect(error.code).toBe('VALIDATION_ERROR');
  });

  it('whatsLiveNow lists the live stream (no token needed)', async () => {
    const found = await eventually(async () => {
      const p: LiveStreamPage = await asUser(null).whatsLiveNow({ page: 1, limit: 100 });
      return p.list.find((s) => s.id === live);
    }, 'the live stream in whats-live-now');
    expect(found.status).toBe('live');
    expect(found.creator?._id).toBe(host);
  });

  it('whatsLiveNow with an expired token: TOKEN_EXPIRED', async () => {
    const expired = createClient({ baseUrl: gatewayUrl(), token: token(viewer, -60) });
    const error = await apiError(expired.whatsLiveNow());
    expect(error.status).toBe(401);
    expect(error.code).toBe('TOKEN_EXPIRED');
  });

  afterAll(async () => {
    await endStream(host, live);
  });
});
