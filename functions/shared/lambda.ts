import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { type AppDeps, lambdaDeps } from './deps.ts';
import { logger, metrics, tracer } from './powertools.ts';

/**
 * Makes a Lambda handler from a handler factory: the dependencies are built
 * once per container (on the first invocation, so importing the module needs
 * no environment), and every call is instrumented with Powertools (context in
 * every log line, keys reset between calls, traces, metrics flushed).
 * @param create builds the raw handler from its dependencies
 */
export const lambdaHandler = <E, R>(
  create: (deps: AppDeps) => (event: E) => Promise<R>
) => {
  let handle: ((event: E) => Promise<R>) | undefined;
  return middy(async (event: E, _context: Context): Promise<R> => {
    handle ??= create(lambdaDeps());
    return handle(event);
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(captureLambdaHandler(tracer))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
};
