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
