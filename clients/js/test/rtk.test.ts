// The seed's RTK Query endpoints against the real gateway: both history lists paginated (what
// infinite scroll walks with pagination.hasNextPage), the empty state, the missing-token error,
// and the generated hook rendered under a react-redux Provider.
import { configureStore } from '@reduxjs/toolkit';
import { createElement } from 'react';
import { Provider } from 'react-redux';
import { create } from 'react-test-renderer';
import type { ReactTestRenderer } from 'react-test-renderer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { baseApi, configureBaseApi, liveStreamHistoryApi, useGetMyWatchedStreamsQuery } from '../src/rtk.js';
import { endStream, eventually, gatewayUrl, join, liveStream, newUserId, token } from './support.js';

const host = newUserId();
const viewer = newUserId();
const streams: string[] = []; // in the order they ended
let user: string | null = null;

const store = configureStore({
  reducer: { [baseApi.reducerPath]: baseApi.reducer },
  middleware: (getDefault) => getDefault().concat(baseApi.middleware),
});
type Endpoint = 'getMyBroadcastedStreams' | 'getMyWatchedStreams';

async function fetchPage(endpoint: Endpoint, as: string | null, query?: { page?: number; limit?: number }) {
  user = as;
  const request = liveStreamHistoryApi.endpoints[endpoint].initiate(query, { subscribe: false, forceRefetch: true });
  return store.dispatch(request);
}

beforeAll(async () => {
  configureBaseApi({ baseUrl: `${gatewayUrl()}/api`, getToken: () => (user ? token(user) : null) });
  for (const title of ['first', 'second', 'third']) {
    const id = await liveStream(host, title);
    await join(viewer, id);
    await endStream(host, id);
    streams.push(id);
  }
  // the history is a projection: wait until all three are in both lists
  for (const [endpoint, as] of [
    ['getMyBroadcastedStreams', host],
    ['getMyWatchedStreams', viewer],
  ] as const) {
    await eventually(async () => (await fetchPage(endpoint, as, { limit: 100 })).data?.pagination.totalItems === 3, `${endpoint} to list 3`);
  }
});

describe("the seed's liveStreamHistoryApi", () => {
  for (const [endpoint, role, who] of [
    ['getMyBroadcastedStreams', 'host', () => host],
    ['getMyWatchedStreams', 'audience', () => viewer],
  ] as const) {
    it(`${endpoint} pages through the list, newest end first (${role})`, async () => {
      const first = await fetchPage(endpoint, who(), { page: 1, limit: 2 });
      expect(first.error).toBeUndefined();
      expect(first.data?.list.map((s) => [s.id, s.role, s.status])).toEqual([
        [streams[2], role, 'ended'],
        [streams[1], role, 'ended'],
      ]);
      expect(first.data?.pagination).toEqual({
        currentPage: 1,
        totalPages: 2,
        totalItems: 3,
        itemsPerPage: 2,
        hasNextPage: true,
        hasPrevPage: false,
      });
      const second = await fetchPage(endpoint, who(), { page: 2, limit: 2 });
      expect(second.data?.list.map((s) => s.id)).toEqual([streams[0]]);
      expect(second.data?.pagination).toMatchObject({ currentPage: 2, hasNextPage: false, hasPrevPage: true });
    });
  }

  it('with no arguments asks for page 1, limit 10', async () => {
    const result = await fetchPage('getMyWatchedStreams', viewer);
    expect(result.data?.pagination).toMatchObject({ currentPage: 1, itemsPerPage: 10, totalItems: 3, hasNextPage: false });
  });

  it('an empty list for a user with no such streams (the empty state)', async () => {
    const result = await fetchPage('getMyBroadcastedStreams', viewer);
    expect(result.data?.list).toEqual([]);
    expect(result.data?.pagination).toMatchObject({ totalItems: 0, totalPages: 0, hasNextPage: false });
  });

  it('without a token the query fails with 401 UNAUTHORIZED', async () => {
    const result = await fetchPage('getMyWatchedStreams', null);
    expect(result.error).toMatchObject({ status: 401, data: { code: 'UNAUTHORIZED', isSuccess: false } });
  });

  it('useGetMyWatchedStreamsQuery renders the page it asked for', async () => {
    user = viewer;
    let latest: ReturnType<typeof useGetMyWatchedStreamsQuery> | undefined;
    function Watched() {
      latest = useGetMyWatchedStreamsQuery({ page: 2, limit: 2 });
      return null;
    }
    const renderer: ReactTestRenderer = create(createElement(Provider, { store, children: createElement(Watched) }));
    try {
      const data = await eventually(() => latest?.isSuccess && latest.data, 'the hook to have data');
      expect(data.list.map((s: { id: string }) => s.id)).toEqual([streams[0]]);
      expect(data.pagination.hasPrevPage).toBe(true);
    } finally {
      renderer.unmount();
    }
  });
});

afterAll(() => {
  store.dispatch(baseApi.util.resetApiState());
});
