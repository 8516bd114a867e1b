/**
 * A floor of `npm run bench:cold`: the libraries every API function of this
 * house loads before it makes any AWS call (Powertools' Logger and Metrics,
 * middy, zod), and the least an AWS call needs if its client were written
 * by hand: the SDK's own SigV4 signer and `node:https`. No SDK client.
 */

import { request } from 'node:https';
import { Sha256 } from '@aws-crypto/sha256-js';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import { SignatureV4 } from '@smithy/signature-v4';
import * as z from 'zod';

const logger = new Logger({ serviceName: 'floor' });
const metrics = new Metrics({ namespace: 'Floor', serviceName: 'floor' });
const input = z.object({ to: z.string().min(1), attempt: z.number().int() });
const signer = new SignatureV4({
  service: 'dynamodb',
  region: process.env.AWS_REGION ?? 'us-east-1',
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '',
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '',
  },
  sha256: Sha256,
});

export const handler = middy(async (event: unknown) => {
  logger.info('floor');
  metrics.addMetric('Floor', 'Count', 1);
  return { input: input.parse(event), signer, request };
});
