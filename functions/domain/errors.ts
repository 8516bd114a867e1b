import type { MessageStatus } from '../shared/names.ts';

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

/** The request conflicts with what exists (e.g. a reused idempotency key). */
export class ConflictError extends Error {
  public readonly name = 'ConflictError';
}

/**
 * The message has already ended (acknowledged, escalated, expired or
 * failed), so it cannot be cancelled; the answer names its status.
 */
export class MessageEndedError extends ConflictError {
  constructor(
    message: string,
    public readonly messageId: string,
    public readonly status: MessageStatus
  ) {
    super(message);
  }
}

/** A history cursor that this system did not make. */
export class InvalidCursorError extends ValidationError {}
