import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

/**
 * An image of a DynamoDB stream record (`OldImage`, `NewImage`) as a plain
 * item, or undefined when the record has none (an insert's old image, a
 * removal's new one).
 */
export const streamImage = <T>(
  image: Record<string, unknown> | undefined
): T | undefined =>
  image
    ? (unmarshall(image as Record<string, AttributeValue>) as T)
    : undefined;
