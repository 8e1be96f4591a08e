// The RTK Query base API the seed's liveStreamHistoryApi injects its endpoints into:
// createApi + fetchBaseQuery, `Authorization: Bearer` from a token getter. The seed says "Base
// API baseUrl değeri /api ise endpoint URL'leri /v1/... olarak kullanılır": the default baseUrl
// is `/api` (same origin); configureBaseApi() points it at another gateway.
import { createApi, fetchBaseQuery } from '@reduxjs/toolkit/query/react';
import type { BaseQueryFn, FetchArgs, FetchBaseQueryError } from '@reduxjs/toolkit/query/react';

export interface BaseApiConfig {
  /** e.g. `/api` or `http://localhost:3000/api` */
  baseUrl: string;
  /** Asked before every request; its token is sent as `Authorization: Bearer <token>`. */
  getToken: () => string | null | undefined;
  /** Passed to fetch: `include` for a cross-origin page that sends cookies. */
  credentials?: RequestCredentials;
  /** Defaults to the global fetch (looked up at request time). */
  fetchFn?: typeof fetch;
}

let config: BaseApiConfig = { baseUrl: '/api', getToken: () => null };

/** Changes where and with which token the base API's endpoints call; takes effect on the next
 * request (refetch with `baseApi.util.resetApiState()` if cached results came from elsewhere). */
export function configureBaseApi(options: Partial<BaseApiConfig>): void {
  config = { ...config, ...options };
}

export function baseApiConfig(): Readonly<BaseApiConfig> {
  return config;
}

// fetchBaseQuery fixes its baseUrl when built: build it per request from the current config.
const configuredBaseQuery: BaseQueryFn<string | FetchArgs, unknown, FetchBaseQueryError> = (args, api, extra) =>
  fetchBaseQuery({
    baseUrl: config.baseUrl,
    credentials: config.credentials,
    fetchFn: config.fetchFn,
    prepareHeaders: (headers) => {
      const token = config.getToken();
      if (token) headers.set('Authorization', `Bearer ${token}`);
      return headers;
    },
  })(args, api, extra);

export const baseApi = createApi({
  reducerPath: 'api',
  baseQuery: configuredBaseQuery,
  endpoints: () => ({}),
});
