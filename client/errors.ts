import type { components } from './api-types.ts';

/** The error envelope of the functions: `{"error": {"code", "message"}}`. */
export type ErrorBody = components['schemas']['ErrorBody'];

/** API Gateway's own answer, before any function ran: `{"message"}`. */
export type GatewayErrorBody = components['schemas']['GatewayError'];

/**
 * A non-2xx answer of the API that the client did not retry (or that was
 * still an error after its last retry).
 *
 * `code` is the error envelope's (`ValidationError`, `Forbidden`,
 * `NotFound`, `Conflict`, `PayloadTooLarge`, `InternalError`, …), or
 * `GatewayError` for API Gateway's own `{"message"}` answers (429 beyond a
 * route's limit, 403 for a request it could not authorize, 5xx when the
 * function failed or timed out), or `UnknownError` for a body of neither
 * shape.
 */
export class PushDeliveryApiError extends Error {
  override readonly name = 'PushDeliveryApiError';
  /** The HTTP status. */
  readonly status: number;
  /** What kind of error (see the class). */
  readonly code: string;
  /** The request, as `POST /v1/messages`. */
  readonly request: string;
  /** The parsed body: the envelope, API Gateway's answer, or the text. */
  readonly body: ErrorBody | GatewayErrorBody | string | undefined;
  /** API Gateway's request id (`apigw-requestid`), when it sent one. */
  readonly requestId: string | undefined;

  /**
   * @param request the method and path, e.g. `GET /v1/messages/m1`
   * @param response the answer (only its status and headers are read)
   * @param body the answer's body, parsed as JSON when it was JSON
   */
  constructor(request: string, response: Response, body: unknown) {
    const { code, message } = describe(body);
    super(`${request} answered ${response.status} ${code}: ${message}`);
    this.status = response.status;
    this.code = code;
    this.request = request;
    this.body = body as PushDeliveryApiError['body'];
    this.requestId =
      response.headers.get('apigw-requestid') ??
      response.headers.get('x-amzn-requestid') ??
      undefined;
  }

  /** The error envelope's message (or API Gateway's), without the request. */
  get apiMessage(): string {
    return describe(this.body).message;
  }
}

const describe = (body: unknown): { code: string; message: string } => {
  if (typeof body === 'object' && body !== null) {
    const { error, message } = body as {
      error?: { code?: unknown; message?: unknown };
      message?: unknown;
    };
    if (typeof error?.code === 'string') {
      return { code: error.code, message: String(error.message ?? '') };
    }
    if (typeof message === 'string') return { code: 'GatewayError', message };
  }
  return {
    code: 'UnknownError',
    message: typeof body === 'string' ? body.slice(0, 500) : '',
  };
};
