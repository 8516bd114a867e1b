import { isInteger, isSafeNumber, parse, stringify } from 'lossless-json';

/**
 * Parse JSON without losing precision: integers beyond 2^53 become `bigint`,
 * every other number a `number` (reference §1.6).
 * @throws SyntaxError when the text is not JSON
 */
export const parseJson = (text: string): unknown =>
  parse(text, null, (value) =>
    isInteger(value) && !isSafeNumber(value) ? BigInt(value) : Number(value)
  );

/** Serialise to JSON; `bigint` values are written as plain number digits. */
export const toJson = (value: unknown): string => stringify(value) ?? 'null';

/** True for a plain JSON object (not an array, not null). */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** UTF-8 byte length of a string. */
export const byteLength = (text: string): number =>
  Buffer.byteLength(text, 'utf8');
