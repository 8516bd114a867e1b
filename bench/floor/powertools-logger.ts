/**
 * A floor of `npm run bench:cold`: Powertools' Logger, which every function
 * logs with, and nothing else.
 */
import { Logger } from '@aws-lambda-powertools/logger';

const logger = new Logger({ serviceName: 'floor' });

export const handler = async () => logger.info('floor');
