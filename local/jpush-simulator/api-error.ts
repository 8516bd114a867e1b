/** A JPush error answer: HTTP status plus the `{"error":{code,message}}` envelope. */
export class ApiError extends Error {
  public readonly status: number;
  public readonly code: number;
  /** Extra top-level fields of the body (e.g. `msg_id` next to 1011). */
  public readonly extra?: Record<string, unknown>;

  /**
   * @param status HTTP status
   * @param code JPush error code
   * @param message error message
   * @param extra extra top-level body fields
   */
  constructor(
    status: number,
    code: number,
    message: string,
    extra?: Record<string, unknown>
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}
