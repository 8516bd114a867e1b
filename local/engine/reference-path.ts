/**
 * Evaluates an Amazon States Language Reference Path (`$`, `$.a.b`,
 * `$['a'][0]`, `$$.Execution.Name`): the subset of JSONPath that fields like
 * `SecondsPath` and `TimestampPath` accept (no wildcards, filters or slices).
 */

const SEGMENT =
  /^(?:\.([^.[\]]+)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\["((?:[^"\\]|\\.)*)"\])/;

/**
 * Reads the value at a Reference Path.
 * @param path e.g. `$.policy.intervalSeconds`; `$$…` reads the context object
 * @param input the state's effective input
 * @param context the context object
 * @returns the value found
 * @throws Error named `States.Runtime` when the path is malformed or matches
 * nothing, as Step Functions fails the execution then
 */
export const readReferencePath = (
  path: string,
  input: unknown,
  context: unknown
): unknown => {
  const fail = (reason: string): never => {
    const error = new Error(
      `Invalid path '${path}': ${reason} (the state's input was ${JSON.stringify(input)})`
    );
    error.name = 'States.Runtime';
    throw error;
  };
  let value: unknown;
  let rest: string;
  if (path.startsWith('$$')) {
    value = context;
    rest = path.slice(2);
  } else if (path.startsWith('$')) {
    value = input;
    rest = path.slice(1);
  } else {
    return fail('a reference path starts with $');
  }
  while (rest.length > 0) {
    const match = SEGMENT.exec(rest);
    if (!match) return fail(`cannot read "${rest}"`);
    const key = match[1] ?? match[3] ?? match[4];
    if (value === null || typeof value !== 'object') {
      return fail('it does not match any node');
    }
    if (key !== undefined) {
      if (!Object.hasOwn(value, key)) return fail('it does not match any node');
      value = (value as Record<string, unknown>)[key];
    } else {
      const index = Number(match[2]);
      if (!Array.isArray(value) || index >= value.length) {
        return fail('it does not match any node');
      }
      value = value[index];
    }
    rest = rest.slice(match[0].length);
  }
  return value;
};
