// @streamproc/client: typed REST calls, job subscriptions over Socket.IO, and the errors both
// raise. React lives in `@streamproc/client/react`, RTK Query in `@streamproc/client/rtk`.
export { ApiError, JobError } from './errors.js';
export type { ApiErrorCode } from './errors.js';
export { createClient } from './rest.js';
export type {
  Client,
  ClientOptions,
  Failure,
  JobAccepted,
  JobState,
  LiveStream,
  LiveStreamPage,
  PageQuery,
  Pagination,
  TitleData,
  TitleResult,
  TokenSource,
} from './rest.js';
export { subscribeJob } from './jobs.js';
export type { SubscribeJobOptions } from './jobs.js';
export type {
  DefaultClientEvents,
  DefaultServerEvents,
  JobCompleted,
  JobErrorEvent,
  JobProgress,
  JobSubscribeAck,
  JobSubscribePayload,
  JobUnsubscribeAck,
} from './generated/events.js';
export type { components, paths } from './generated/openapi.js';
