import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, SERVICE_NAME } from './names.ts';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME;

/** The one logger: structured JSON, one line per event. */
export const logger = new Logger({ serviceName });

/** The one metrics emitter (CloudWatch EMF). */
export const metrics = new Metrics({
  serviceName,
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE,
});

// No Powertools Tracer: it loads aws-xray-sdk-core (131 KB of every bundle
// with semver and cls-hooked) and takes about as long to load as Node
// itself does to start (npm run bench:cold). The functions keep X-Ray
// active tracing, so Lambda still records each invocation's segment (init,
// invocation, overhead); what is given up is a subsegment per AWS SDK call.
