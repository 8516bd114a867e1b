/**
 * Reads a required environment variable.
 * @throws Error naming the missing variable
 */
export const requireEnv = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`Environment variable ${name} is not set.`);
  }
  return value;
};

/**
 * Reads an optional environment variable; empty counts as not set.
 * @returns its value, or undefined
 */
export const optionalEnv = (name: string): string | undefined => {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
};

/**
 * Reads an optional `true` / `false` environment variable; empty counts as
 * not set.
 * @param fallback the value when it is not set
 * @throws Error naming the variable when it is set to anything else
 */
export const booleanEnv = (name: string, fallback: boolean): boolean => {
  const value = optionalEnv(name);
  if (value === undefined) return fallback;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new Error(
    `Environment variable ${name} must be true or false, not "${value}".`
  );
};
