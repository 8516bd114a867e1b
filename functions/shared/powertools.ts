import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'push-delivery';

/** The one logger: structured JSON, one line per event. */
export const logger = new Logger({ serviceName });

/** The one metrics emitter (CloudWatch EMF). */
export const metrics = new Metrics({
  serviceName,
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'PushDelivery',
});

/** The one tracer (X-Ray). */
export const tracer = new Tracer({ serviceName });
