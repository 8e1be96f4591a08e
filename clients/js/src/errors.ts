// The package's two errors: a REST call the gateway refused (its error envelope's code), and a
// job that ended with job:error. Callers branch on `code`, never on the message.
import type { components } from './generated/openapi.js';
import type { JobErrorEvent } from './generated/events.js';

/** The machine-readable codes the gateway's error envelope can carry (from its OpenAPI
 * document), plus the client's own `NETWORK_ERROR` (no answer) and `HTTP_<status>` (an answer
 * that is not the gateway's envelope, e.g. from a proxy). */
export type ApiErrorCode = components['schemas']['Failure']['code'] | 'NETWORK_ERROR' | `HTTP_${number}`;

/** A REST call that did not succeed: `status` is the HTTP status (0 when nothing answered),
 * `code` the envelope's `code`, `errors` its human-readable `errors[]`, `details` its `data`
 * (e.g. `{jobId}` on a 504 TIMEOUT of POST /api/getinfo). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ApiErrorCode | (string & {});
  readonly errors: string[];
  readonly details?: unknown;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { errors?: string[]; details?: unknown; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.errors = options.errors ?? [message];
    if (options.details !== undefined && options.details !== null) this.details = options.details;
  }
}

/** A job that failed (`job:error`, or an error ack to `job:subscribe` such as JOB_NOT_FOUND):
 * `code` is SCRAPE_ERROR, TITLE_NOT_FOUND, PARSE_ERROR, TIMEOUT, JOB_NOT_FOUND, … */
export class JobError extends Error {
  readonly code: string;
  readonly jobId: string;

  constructor(code: string, message: string, jobId: string) {
    super(message);
    this.name = 'JobError';
    this.code = code;
    this.jobId = jobId;
  }

  static fromEvent(event: JobErrorEvent, jobId: string): JobError {
    return new JobError(event.error.code, event.error.message, event.jobId ?? jobId);
  }
}
