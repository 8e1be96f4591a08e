import { baseApi } from '../baseApi.js';

type BaseResponseDto<T> = { data: T };

type Pagination = {
  currentPage: number;
  totalPages: number;
  totalItems: number;
  itemsPerPage: number;
  hasNextPage: boolean;
  hasPrevPage: boolean;
};

type PaginatedResponse<T> = {
  list: T[];
  pagination: Pagination;
};

type LiveStreamHistoryItem = {
  id: string;
  title: string;
  status: 'ended';
  role: 'host' | 'guest' | 'audience' | null;
  thumbnailUrl?: string | null;
  startedAt?: string | null;
  endedAt?: string | null;
};

type HistoryQuery = {
  page?: number;
  limit?: number;
};

const unwrap = <T>(response: BaseResponseDto<T> | T): T =>
  response && typeof response === 'object' && 'data' in response
    ? (response as BaseResponseDto<T>).data
    : (response as T);

export const liveStreamHistoryApi = baseApi.injectEndpoints({
  endpoints: (builder) => ({
    getMyBroadcastedStreams: builder.query<
      PaginatedResponse<LiveStreamHistoryItem>,
      HistoryQuery | void
    >({
      query: (params) => ({
        url: '/v1/live-stream/my-broadcasted-streams',
        method: 'GET',
        params: {
          page: params?.page ?? 1,
          limit: params?.limit ?? 10,
        },
      }),
      transformResponse: (
        response: BaseResponseDto<PaginatedResponse<LiveStreamHistoryItem>>,
      ) => unwrap(response),
    }),

    getMyWatchedStreams: builder.query<
      PaginatedResponse<LiveStreamHistoryItem>,
      HistoryQuery | void
    >({
      query: (params) => ({
        url: '/v1/live-stream/my-watched-streams',
        method: 'GET',
        params: {
          page: params?.page ?? 1,
          limit: params?.limit ?? 10,
        },
      }),
      transformResponse: (
        response: BaseResponseDto<PaginatedResponse<LiveStreamHistoryItem>>,
      ) => unwrap(response),
    }),
  }),
});

export const {
  useGetMyBroadcastedStreamsQuery,
  useGetMyWatchedStreamsQuery,
} = liveStreamHistoryApi;
