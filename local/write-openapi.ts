/**
 * `npm run openapi [-- <file>]`: writes the OpenAPI 3.1 document of the
 * HTTP API (generated from the zod schemas, `functions/shared/openapi.ts`)
 * to `<file>`, `openapi.json` by default. Local mode also serves it at
 * `GET /openapi.json`.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { openApiDocument } from '../functions/shared/openapi.ts';

const file = resolve(process.argv[2] ?? 'openapi.json');
writeFileSync(file, `${JSON.stringify(openApiDocument(), null, 2)}\n`);
console.log(`OpenAPI document written to ${file}`);
