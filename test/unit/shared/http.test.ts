import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  ForbiddenError,
  NotFoundError,
  ValidationError,
} from '../../../functions/domain/errors.ts';
import {
  errorResponse,
  PayloadTooLargeError,
  parseJsonBody,
  withHttpErrors,
} from '../../../functions/shared/http.ts';
import { logger } from '../../../functions/shared/powertools.ts';

/** The part of an API Gateway event the parser reads. */
const event = (body: string | undefined, isBase64Encoded = false) => ({
  body,
  isBase64Encoded,
});

const Body = z.strictObject({ name: z.string({ error: 'must be a string' }) });

const bodyOf = (response: { body?: string }) =>
  JSON.parse(response.body ?? '') as {
    error: { code: string; message: string };
  };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('parseJsonBody', () => {
  it('parses and validates a JSON body', () => {
    // Act
    const value = parseJsonBody(event('{"name":"a"}'), Body);

    // Assess
    expect(value).toEqual({ name: 'a' });
  });

  it('decodes a base64 body first', () => {
    // Prepare
    const body = Buffer.from('{"name":"用户"}', 'utf8').toString('base64');

    // Act
    const value = parseJsonBody(event(body, true), Body);

    // Assess
    expect(value).toEqual({ name: '用户' });
  });

  it.each([
    ['no body', undefined],
    ['an empty body', ''],
    ['a blank body', '  \n'],
  ])('asks for a JSON body when there is %s', (_case, body) => {
    // Act
    const parse = () => parseJsonBody(event(body), Body);

    // Assess
    expect(parse).toThrow(
      new ValidationError('The request needs a JSON body.')
    );
  });

  it('says that malformed JSON is not valid JSON', () => {
    // Act
    const parse = () => parseJsonBody(event('{"name": '), Body);

    // Assess
    expect(parse).toThrow(
      new ValidationError('The request body is not valid JSON.')
    );
  });

  it('names a field of the wrong type and unknown fields', () => {
    // Act
    const parse = () =>
      parseJsonBody(event('{"name": 5, "extra": true}'), Body);

    // Assess
    expect(parse).toThrow(
      new ValidationError(
        'Invalid request body: name: must be a string; unknown field(s) "extra".'
      )
    );
  });

  it('says a missing field is required and a non-object body is wrong', () => {
    // Act
    const missing = () => parseJsonBody(event('{}'), Body);
    const array = () => parseJsonBody(event('[1]'), Body);

    // Assess
    expect(missing).toThrow('Invalid request body: name: is required.');
    expect(array).toThrow(ValidationError);
  });

  it('refuses a body over 64 KiB, also when it is base64', () => {
    // Prepare
    const big = JSON.stringify({ name: 'x'.repeat(64 * 1024) });
    const exactly = `"${'x'.repeat(64 * 1024 - 2)}"`;

    // Act
    const plain = () => parseJsonBody(event(big), Body);
    const encoded = () =>
      parseJsonBody(event(Buffer.from(big).toString('base64'), true), Body);
    const atLimit = () => parseJsonBody(event(exactly), z.string());

    // Assess
    expect(plain).toThrow(PayloadTooLargeError);
    expect(encoded).toThrow(PayloadTooLargeError);
    expect(atLimit).not.toThrow();
  });
});

describe('errorResponse', () => {
  it.each([
    [new ValidationError('body: bad'), 400, 'ValidationError', 'body: bad'],
    [new ForbiddenError('no'), 403, 'Forbidden', 'no'],
    [
      new NotFoundError('No message with id m1.'),
      404,
      'NotFound',
      'No message with id m1.',
    ],
    [new PayloadTooLargeError('too big'), 413, 'PayloadTooLarge', 'too big'],
  ])(
    'maps %s to its status with a JSON error',
    (error, status, code, message) => {
      // Act
      const response = errorResponse(error);

      // Assess
      expect(response.statusCode).toBe(status);
      expect(response.headers?.['content-type']).toMatch(/^application\/json/);
      expect(bodyOf(response)).toEqual({ error: { code, message } });
    }
  );

  it('answers an unexpected error with a 500 that reveals nothing and logs it', () => {
    // Prepare
    const logged = vi.spyOn(logger, 'error').mockImplementation(() => {});
    const error = new Error(
      'connect ECONNREFUSED 10.0.0.7:443 MESSAGES_TABLE arn:aws:dynamodb:...'
    );

    // Act
    const response = errorResponse(error);

    // Assess
    expect(response.statusCode).toBe(500);
    const body = bodyOf(response);
    expect(body.error.code).toBe('InternalError');
    expect(response.body).not.toContain('ECONNREFUSED');
    expect(response.body).not.toContain('arn:');
    expect(response.body).not.toContain('stack');
    expect(logged).toHaveBeenCalledWith('Request failed', { error });
  });

  it('turns a thrown non-error into a generic 500 as well', async () => {
    // Prepare
    vi.spyOn(logger, 'error').mockImplementation(() => {});
    const handler = withHttpErrors(async () => {
      throw 'plain string';
    });

    // Act
    const response = await handler({} as never);

    // Assess
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('plain string');
  });
});
