import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { openApiDocument } from '../../functions/shared/openapi.ts';

// ajv-formats is CommonJS: its default export arrives as the module.
const addFormats =
  addFormatsModule as unknown as typeof addFormatsModule.default;

/** One response the API gave, as a test received it. */
export interface ObservedResponse {
  readonly method: string;
  /** The request's path, as sent (percent-escapes kept). */
  readonly path: string;
  readonly status: number;
  readonly contentType: string | null;
  readonly body: string;
}

type Json = Record<string, unknown>;

interface PathEntry {
  readonly template: string;
  readonly pattern: RegExp;
  readonly operations: Json;
}

/** Where the component schemas live for ajv (`#/components/schemas` → here). */
const BASE = 'https://contract.test/openapi';

/**
 * Checks responses against the OpenAPI document: the route's documented
 * statuses and, for each, its JSON body's schema. Schemas are compiled once
 * per (route, status), on first use.
 */
export class ContractChecker {
  readonly #document = openApiDocument();
  readonly #ajv: Ajv2020;
  readonly #paths: PathEntry[];
  readonly #validators = new Map<string, ValidateFunction | null>();

  constructor() {
    this.#ajv = new Ajv2020({ allErrors: true, strict: true });
    addFormats(this.#ajv);
    const components = this.#document.components as Json;
    this.#ajv.addSchema(
      { $id: BASE, $defs: rewriteRefs(components.schemas) as Json },
      BASE
    );
    const paths = this.#document.paths as Record<string, Json>;
    // Literal paths first, as routers match them (`/v1/messages/batch`
    // before `/v1/messages/{messageId}`).
    this.#paths = Object.entries(paths)
      .map(([template, operations]) => ({
        template,
        operations,
        pattern: new RegExp(
          `^${template
            .split('/')
            .map((part) =>
              /^\{[^}]+\}$/.test(part)
                ? '[^/]+'
                : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
            )
            .join('/')}/?$`
        ),
      }))
      .sort(
        (a, b) =>
          Number(a.template.includes('{')) - Number(b.template.includes('{'))
      );
  }

  /**
   * What is wrong with a response, or undefined when it matches the
   * document (or is not a response of the API: another path).
   */
  problem(response: ObservedResponse): string | undefined {
    const method = response.method.toLowerCase();
    const matches = this.#paths.filter((p) => p.pattern.test(response.path));
    if (matches.length === 0) return undefined;
    const entry = matches.find((p) => p.operations[method] !== undefined);
    const what = `${response.method.toUpperCase()} ${response.path} → ${response.status}`;
    if (entry === undefined) {
      // A method the path does not take: local mode's 405 (AWS: 404).
      if (response.status !== 405) {
        return `${what}: ${response.method} is not a method of ${matches[0]?.template}, so 405 was expected`;
      }
      return this.#checkBody(
        what,
        `405 ${matches[0]?.template}`,
        { $ref: '#/components/schemas/MethodNotAllowedBody' },
        response
      );
    }
    const operation = entry.operations[method] as Json;
    const responses = operation.responses as Record<string, Json>;
    const documented = responses[String(response.status)];
    if (documented === undefined) {
      return `${what}: status ${response.status} is not documented for ${method.toUpperCase()} ${entry.template} (documented: ${Object.keys(responses).join(', ')})`;
    }
    const resolved = this.#resolve(documented);
    const content = resolved.content as
      | Record<string, { schema: Json }>
      | undefined;
    if (content === undefined) {
      return response.body === ''
        ? undefined
        : `${what}: a body was sent where the document has none: ${response.body.slice(0, 300)}`;
    }
    const schema = content['application/json']?.schema;
    if (schema === undefined) return undefined;
    if (!response.contentType?.startsWith('application/json')) {
      return `${what}: content-type ${response.contentType} is not application/json`;
    }
    return this.#checkBody(
      what,
      `${response.status} ${method} ${entry.template}`,
      schema,
      response
    );
  }

  #checkBody(
    what: string,
    key: string,
    schema: Json,
    response: ObservedResponse
  ): string | undefined {
    let validate = this.#validators.get(key);
    if (validate === undefined) {
      validate = this.#ajv.compile(rewriteRefs(schema) as Json);
      this.#validators.set(key, validate);
    }
    let body: unknown;
    try {
      body = JSON.parse(response.body);
    } catch {
      return `${what}: the body is not JSON: ${response.body.slice(0, 300)}`;
    }
    if (validate?.(body)) return undefined;
    const errors = (validate?.errors ?? [])
      .slice(0, 5)
      .map(
        (e) =>
          `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`
      )
      .join('; ');
    return `${what}: the body does not match the document (${errors}): ${response.body.slice(0, 500)}`;
  }

  /** A response object, its `$ref` to `components.responses` followed. */
  #resolve(response: Json): Json {
    const target = response.$ref;
    if (typeof target !== 'string') return response;
    const name = target.replace('#/components/responses/', '');
    const components = this.#document.components as Json;
    return (components.responses as Record<string, Json>)[name] as Json;
  }
}

/** The document's refs to component schemas, as refs to ajv's copy. */
const rewriteRefs = (value: unknown): unknown =>
  JSON.parse(
    JSON.stringify(value).replaceAll(
      '"#/components/schemas/',
      `"${BASE}#/$defs/`
    )
  );
