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
