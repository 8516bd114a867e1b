/**
 * A floor of `npm run bench:cold`: the DynamoDB document client, which
 * every function but one needs, and nothing else.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export const handler = async () =>
  documents.send(new GetCommand({ TableName: 'floor', Key: { id: 'x' } }));
