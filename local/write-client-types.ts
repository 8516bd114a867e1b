/**
 * `npm run client:types`: writes the typed client's types
 * (`client/api-types.ts`) from the OpenAPI document, with openapi-typescript.
 * Run it after changing a route or a schema; a unit test fails until then.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CLIENT_TYPES_FILE, clientTypesSource } from './client-types.ts';

const file = resolve(import.meta.dirname, '..', CLIENT_TYPES_FILE);
writeFileSync(file, await clientTypesSource());
console.log(`Client types written to ${CLIENT_TYPES_FILE}`);
