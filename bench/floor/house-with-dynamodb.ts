/**
 * A floor of `npm run bench:cold`: the house libraries of
 * house-without-sdk.ts with the DynamoDB document client in place of a
 * hand-written signer: the least a function of this house that reads one
 * table loads.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import middy from '@middy/core';
import * as z from 'zod';

const logger = new Logger({ serviceName: 'floor' });
const metrics = new Metrics({ namespace: 'Floor', serviceName: 'floor' });
const input = z.object({ id: z.string().min(1) });
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export const handler = middy(async (event: unknown) => {
  logger.info('floor');
  metrics.addMetric('Floor', 'Count', 1);
  const { id } = input.parse(event);
  return documents.send(new GetCommand({ TableName: 'floor', Key: { id } }));
});
