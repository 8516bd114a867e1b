// The Lambda runtime's part, for one synthesized bundle in its own process:
// imports the bundle (as the Node.js runtime does, once per container),
// then runs each invocation the parent sends over IPC with a Lambda-like
// context, and answers with the result or the error as Lambda reports it
// (errorType, errorMessage). The environment is the function's own.
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const [bundle, functionName, timeoutMs] = process.argv.slice(2);
const loaded = import(pathToFileURL(bundle).href);

process.on('message', async ({ id, event }) => {
  const deadline = Date.now() + Number(timeoutMs);
  const context = {
    awsRequestId: randomUUID(),
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:123456789012:function:${functionName}`,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? '512',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    const { handler } = await loaded;
    const result = await handler(event, context);
    process.send({ id, result: result === undefined ? null : result });
  } catch (error) {
    process.send({
      id,
      error: {
        errorType: error?.name ?? 'Error',
        errorMessage: error?.message ?? String(error),
      },
    });
  }
});
process.send({ ready: true });
