import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  openApiDocument,
  openApiRoutes,
} from '../../../functions/shared/openapi.ts';
import { synthTemplates } from '../../../local/engine/synth.ts';
import { routesFromTemplate } from '../../../local/http-api.ts';
import { ContractChecker } from '../../helpers/contract.ts';

const addFormats =
  addFormatsModule as unknown as typeof addFormatsModule.default;

type Json = Record<string, unknown>;

describe('openApiDocument', () => {
  it('is a valid OpenAPI 3.1 document (swagger-parser)', async () => {
    // Prepare
    const document = openApiDocument();

    // Act
    const validated = await SwaggerParser.validate(
      structuredClone(document) as never
    );

    // Assess
    expect(document.openapi).toBe('3.1.0');
    expect(validated.info.title).toBe('Guaranteed push delivery API');
  });

  it('has component schemas that compile as JSON Schema 2020-12 in strict mode', () => {
    // Prepare
    const ajv = new Ajv2020({ strict: true });
    addFormats(ajv);
    const schemas = (openApiDocument().components as Json).schemas as Record<
      string,
      Json
    >;
    ajv.addSchema(
      JSON.parse(
        JSON.stringify({ $id: 'https://t.test/s', $defs: schemas }).replaceAll(
          '"#/components/schemas/',
          '"https://t.test/s#/$defs/'
        )
      )
    );

    // Act
    const compiled = Object.keys(schemas).map((name) =>
      ajv.getSchema(`https://t.test/s#/$defs/${name}`)
    );

    // Assess
    expect(Object.keys(schemas).length).toBeGreaterThan(10);
    for (const validate of compiled) expect(validate).toBeTypeOf('function');
  });

  // Synthesizes the app (no bundling): about 15 s on a loaded 2-core machine.
  it('documents every route of the synthesized HTTP API, with its authorization, and no other', {
    timeout: 120_000,
  }, () => {
    // Prepare
    const templates = synthTemplates({
      context: { stage: 'test' },
      failOnValidationErrors: false,
    });
    const service = Object.entries(templates).find(([name]) =>
      name.includes('-Service-')
    )?.[1];
    if (!service) throw new Error('no service stack in the app');

    // Act
    const deployed = routesFromTemplate(service)
      .map((r) => `${r.routeKey} ${r.authorizationType}`)
      .sort();
    const documented = openApiRoutes()
      .map(
        (r) => `${r.method} ${r.path} ${r.auth === 'iam' ? 'AWS_IAM' : 'NONE'}`
      )
      .sort();

    // Assess
    expect(documented).toEqual(deployed);
  });

  it('gives the ACK route no security and every other route SigV4', () => {
    // Prepare
    const document = openApiDocument();
    const paths = document.paths as Record<string, Record<string, Json>>;

    // Act
    const security = Object.entries(paths).flatMap(([path, operations]) =>
      Object.entries(operations).map(
        ([method, op]) =>
          `${method} ${path} ${JSON.stringify(op.security ?? document.security)}`
      )
    );

    // Assess
    expect(security).toContain('post /v1/messages/{messageId}/ack []');
    expect(
      security
        .filter((s) => !s.includes('/ack'))
        .every((s) => s.endsWith('[{"sigv4":[]}]'))
    ).toBe(true);
    expect(
      ((document.components as Json).securitySchemes as Json).sigv4
    ).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'Authorization',
      'x-amazon-apigateway-authtype': 'awsSigv4',
    });
  });

  it('documents each request body and path parameter from the zod schemas', () => {
    // Prepare
    const document = openApiDocument();
    const paths = document.paths as Record<string, Record<string, Json>>;
    const schemas = (document.components as Json).schemas as Record<
      string,
      Json
    >;

    // Act
    const send = paths['/v1/messages']?.post as Json;
    const logout = paths['/v1/sessions/{userId}/{registrationId}']
      ?.delete as Json;
    const history = paths['/v1/users/{userId}/messages']?.get as Json;

    // Assess
    expect(send.requestBody).toMatchObject({
      required: true,
      content: {
        'application/json': {
          schema: { $ref: '#/components/schemas/SendMessageRequest' },
        },
      },
    });
    expect(schemas.SendMessageRequest).toMatchObject({
      required: ['to', 'body'],
      additionalProperties: false,
    });
    expect(
      (logout.parameters as Json[]).map((p) => [p.name, p.in, p.required])
    ).toEqual([
      ['userId', 'path', true],
      ['registrationId', 'path', true],
    ]);
    expect(
      (history.parameters as Json[]).map((p) => [p.name, p.in, p.required])
    ).toEqual([
      ['userId', 'path', true],
      ['limit', 'query', false],
      ['cursor', 'query', false],
    ]);
    expect(Object.keys(send.responses as Json)).toEqual(
      expect.arrayContaining(['202', '400', '403', '409', '413', '429', '500'])
    );
  });
});

describe('ContractChecker', () => {
  let checker: ContractChecker;
  const json = 'application/json; charset=utf-8';

  beforeAll(() => {
    checker = new ContractChecker();
  });

  it('accepts answers as the document has them', () => {
    // Act
    const problems = [
      checker.problem({
        method: 'POST',
        path: '/v1/messages',
        status: 202,
        contentType: json,
        body: '{"messageId":"m1","status":"sending"}',
      }),
      checker.problem({
        method: 'POST',
        path: '/v1/messages/m1/ack',
        status: 204,
        contentType: null,
        body: '',
      }),
      checker.problem({
        method: 'DELETE',
        path: '/v1/messages/m1',
        status: 409,
        contentType: json,
        body: '{"error":{"code":"Conflict","message":"ended"},"messageId":"m1","status":"acknowledged"}',
      }),
      checker.problem({
        method: 'GET',
        path: '/v1/messages/m1/',
        status: 429,
        contentType: 'application/json',
        body: '{"message":"Too Many Requests"}',
      }),
      checker.problem({
        method: 'DELETE',
        path: '/v1/messages',
        status: 405,
        contentType: json,
        body: '{"error":{"code":"MethodNotAllowed","message":"use POST"}}',
      }),
      checker.problem({
        method: 'GET',
        path: '/local/sms',
        status: 200,
        contentType: json,
        body: '[]',
      }),
    ];

    // Assess
    expect(problems).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('names an undocumented status, an undocumented field, a wrong code and a missing 405', () => {
    // Act
    const status = checker.problem({
      method: 'POST',
      path: '/v1/messages/batch',
      status: 404,
      contentType: json,
      body: '{"error":{"code":"NotFound","message":"x"}}',
    });
    const field = checker.problem({
      method: 'POST',
      path: '/v1/sessions',
      status: 200,
      contentType: json,
      body: '{"drained":0,"alias":"bound","extra":1}',
    });
    const code = checker.problem({
      method: 'GET',
      path: '/v1/messages/m1',
      status: 404,
      contentType: json,
      body: '{"error":{"code":"Gone","message":"x"}}',
    });
    const method = checker.problem({
      method: 'PUT',
      path: '/v1/sessions',
      status: 200,
      contentType: json,
      body: '{}',
    });

    // Assess
    expect(status).toContain('status 404 is not documented');
    expect(field).toContain('additionalProperty');
    expect(code).toContain('does not match');
    expect(method).toContain('405 was expected');
  });
});
