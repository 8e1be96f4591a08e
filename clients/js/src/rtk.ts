// @streamproc/client/rtk: the RTK Query base API and the seed's liveStreamHistoryApi (verbatim in
// src/seeds/liveStreamHistoryApi.ts). Add `baseApi.reducer` under `baseApi.reducerPath` and
// `baseApi.middleware` to the store.
export { baseApi, baseApiConfig, configureBaseApi } from './baseApi.js';
export type { BaseApiConfig } from './baseApi.js';
export {
  liveStreamHistoryApi,
  useGetMyBroadcastedStreamsQuery,
  useGetMyWatchedStreamsQuery,
} from './seeds/liveStreamHistoryApi.js';
