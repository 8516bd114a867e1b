/** The request is malformed; the message says what to fix. */
export class ValidationError extends Error {
  public readonly name = 'ValidationError';
}

/** The thing asked for does not exist. */
export class NotFoundError extends Error {
  public readonly name = 'NotFoundError';
}

/** The caller may not do this (e.g. a wrong ACK token). */
export class ForbiddenError extends Error {
  public readonly name = 'ForbiddenError';
}

/** A history cursor that this system did not make. */
export class InvalidCursorError extends ValidationError {}
