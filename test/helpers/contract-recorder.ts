import { afterEach } from 'vitest';
import type { ContractChecker } from './contract.ts';

/**
 * The contract test: every response of the API that a test receives over
 * HTTP (`fetch`, so `api()` of `local-system.ts`, the e2e suites' calls and
 * the simulated phones' ACKs alike) is checked against the OpenAPI
 * document, its status and its JSON body; a mismatch fails the test it
 * came in, in `afterEach`. Only `/v1/` paths are the API: `/local/*`, the
 * live page and the JPush simulator's own routes are not checked.
 */
export const installContractRecorder = (): void => {
  const original = globalThis.fetch;
  let checker: Promise<ContractChecker> | undefined;
  const pending: Promise<void>[] = [];
  const problems: string[] = [];

  const check = async (
    method: string,
    path: string,
    response: Response
  ): Promise<void> => {
    const body = await response.text();
    // Built on the first API response only: unit tests never pay for it.
    checker ??= import('./contract.ts').then((m) => new m.ContractChecker());
    const problem = (await checker).problem({
      method,
      path,
      status: response.status,
      contentType: response.headers.get('content-type'),
      body,
    });
    if (problem !== undefined) problems.push(problem);
  };

  globalThis.fetch = async (input, init) => {
    const response = await original(input, init);
    const url =
      typeof input === 'string'
        ? input
        : input instanceof URL
          ? input.href
          : input.url;
    const { pathname } = new URL(url);
    if (pathname.startsWith('/v1/')) {
      const method =
        init?.method ?? (input instanceof Request ? input.method : 'GET');
      pending.push(
        check(method.toUpperCase(), pathname, response.clone()).catch(
          (error: unknown) => {
            problems.push(
              `${method} ${pathname}: could not be checked: ${String(error)}`
            );
          }
        )
      );
    }
    return response;
  };

  afterEach(async () => {
    await Promise.all(pending.splice(0));
    const found = problems.splice(0);
    if (found.length > 0) {
      throw new Error(
        `Responses that do not match the OpenAPI document (functions/shared/openapi.ts):\n${found.join('\n')}`
      );
    }
  });
};
