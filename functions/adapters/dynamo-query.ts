import {
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';

/**
 * Every item of a partition, following DynamoDB's pages.
 * @param db the document client
 * @param tableName the table
 * @param key the partition key's name and value
 */
export const queryPartition = async (
  db: DynamoDBDocumentClient,
  tableName: string,
  key: { name: string; value: string }
): Promise<Record<string, unknown>[]> => {
  const items: Record<string, unknown>[] = [];
  let start: QueryCommandInput['ExclusiveStartKey'];
  do {
    const out: QueryCommandOutput = await db.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': key.name },
        ExpressionAttributeValues: { ':pk': key.value },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      })
    );
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
};
