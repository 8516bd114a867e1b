import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger, metrics } from './powertools.ts';
import { type Part, type Wired, wire } from './wiring/part.ts';

/**
 * Makes a Lambda handler from a handler factory and the parts of its
 * wiring: the dependencies are built once per container (on the first
 * invocation, so importing the module needs no environment; each one when
 * first used), and every call is instrumented with Powertools (context in
 * every log line, keys reset between calls, metrics flushed; traces are
 * Lambda's own, see ./powertools.ts).
 *
 * Only the parts named here are bundled with the function (each part is a
 * module of ./wiring importing its own SDK client), and the type checker
 * holds the factory to them: a handler whose use case needs a dependency
 * no part provides does not compile.
 * @param create builds the raw handler from its dependencies
 * @param parts the parts of the wiring (e.g. `tables, stepFunctions, clock`)
 */
export const lambdaHandler = <
  E,
  R,
  const Ps extends readonly Part<object>[] = [],
>(
  create: (deps: Wired<Ps>) => (event: E) => Promise<R>,
  ...parts: Ps
) => {
  let handle: ((event: E) => Promise<R>) | undefined;
  return middy(async (event: E, _context: Context): Promise<R> => {
    handle ??= create(wire(...parts));
    return handle(event);
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
};
