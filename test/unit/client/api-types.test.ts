import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_TYPES_FILE,
  clientTypesSource,
} from '../../../local/client-types.ts';

describe('client/api-types.ts', () => {
  it('is what openapi-typescript makes of the OpenAPI document now (run npm run client:types when not)', async () => {
    // Prepare
    const committed = readFileSync(CLIENT_TYPES_FILE, 'utf8');

    // Act
    const generated = await clientTypesSource();

    // Assess
    expect(
      generated === committed,
      `${CLIENT_TYPES_FILE} is stale: run npm run client:types`
    ).toBe(true);
  });

  it('types every operation of the document', async () => {
    // Prepare
    const { openApiDocument } = await import(
      '../../../functions/shared/openapi.ts'
    );
    const paths = openApiDocument().paths as Record<
      string,
      Record<string, { operationId: string }>
    >;
    const ids = Object.values(paths).flatMap((ops) =>
      Object.values(ops).map((op) => op.operationId)
    );

    // Act
    const source = readFileSync(CLIENT_TYPES_FILE, 'utf8');

    // Assess
    expect(ids.length).toBeGreaterThan(8);
    for (const id of ids) expect(source).toContain(`    ${id}: {`);
  });
});
