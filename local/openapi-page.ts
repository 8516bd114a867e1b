/**
 * The API reference page (`GET /docs` in local mode), rendered on the
 * server from the OpenAPI document: plain HTML with its own style, no
 * script and nothing loaded from elsewhere, so it works offline.
 */

type Json = Record<string, unknown>;

const escapeHtml = (text: string): string =>
  text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');

/** Escapes a text and shows its `code` spans as code. */
const prose = (text: unknown): string =>
  typeof text === 'string'
    ? escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>')
    : '';

const paragraphs = (text: unknown): string =>
  typeof text === 'string'
    ? text
        .split(/\n\n+/)
        .map((p) => `<p>${prose(p)}</p>`)
        .join('')
    : '';

const SCHEMA_REF = '#/components/schemas/';
const anchorOf = (name: string) => `schema-${name}`;

const schemaLink = (name: string) =>
  `<a href="#${anchorOf(name)}">${escapeHtml(name)}</a>`;

/** A schema's type in a few words, with its constraints. */
const typeOf = (schema: Json | undefined): string => {
  if (schema === undefined) return 'any';
  if (typeof schema.$ref === 'string') {
    return schemaLink(schema.$ref.replace(SCHEMA_REF, ''));
  }
  const union = (schema.oneOf ?? schema.anyOf) as Json[] | undefined;
  if (union) return union.map(typeOf).join(' | ');
  const notes: string[] = [];
  if (schema.const !== undefined) {
    return `<code>${escapeHtml(JSON.stringify(schema.const))}</code>`;
  }
  if (Array.isArray(schema.enum)) {
    return schema.enum
      .map((v) => `<code>${escapeHtml(JSON.stringify(v))}</code>`)
      .join(' | ');
  }
  let type = typeof schema.type === 'string' ? schema.type : 'any';
  if (type === 'array') {
    type = `array of ${typeOf(schema.items as Json | undefined)}`;
  }
  if (
    type === 'object' &&
    typeof schema.additionalProperties === 'object' &&
    schema.properties === undefined
  ) {
    type = `object of ${typeOf(schema.additionalProperties as Json)}`;
  }
  const bound = (key: string, label: string) => {
    if (typeof schema[key] === 'number') notes.push(`${label} ${schema[key]}`);
  };
  bound('minLength', 'min length');
  bound('maxLength', 'max length');
  bound('minimum', '≥');
  bound('maximum', '≤');
  bound('minItems', 'min items');
  bound('maxItems', 'max items');
  if (typeof schema.format === 'string') notes.push(schema.format);
  if (typeof schema.pattern === 'string') {
    notes.push(`pattern <code>${escapeHtml(schema.pattern)}</code>`);
  }
  return notes.length > 0
    ? `${escapeHtml(type)} <span class="note">(${notes.join(', ')})</span>`
    : escapeHtml(type);
};

/** An object schema's fields as a table (nested objects inside). */
const fieldsTable = (schema: Json, depth = 0): string => {
  const properties = schema.properties as Record<string, Json> | undefined;
  if (properties === undefined || depth > 4) return '';
  const required = new Set((schema.required as string[] | undefined) ?? []);
  const rows = Object.entries(properties).map(([name, field]) => {
    const nested =
      field.type === 'object' && field.properties
        ? fieldsTable(field, depth + 1)
        : '';
    return `<tr><td><code>${escapeHtml(name)}</code>${required.has(name) ? ' <span class="req">required</span>' : ''}</td><td>${nested ? 'object' : typeOf(field)}</td><td>${prose(field.description)}${nested}</td></tr>`;
  });
  return `<table class="fields"><thead><tr><th>field</th><th>type</th><th>meaning</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
};

const contentSchema = (holder: Json | undefined): Json | undefined =>
  (
    (holder?.content as Json | undefined)?.['application/json'] as
      | Json
      | undefined
  )?.schema as Json | undefined;

const METHOD_ORDER = ['get', 'post', 'put', 'delete'];

/**
 * The reference page of an OpenAPI document.
 * @param document the OpenAPI 3.1 document (`openApiDocument()`)
 */
export const renderApiReference = (document: Json): string => {
  const info = document.info as Json;
  const components = document.components as Json;
  const schemes = (components.securitySchemes ?? {}) as Record<string, Json>;
  const sharedResponses = (components.responses ?? {}) as Record<string, Json>;
  const paths = document.paths as Record<string, Record<string, Json>>;
  const operations = Object.entries(paths).flatMap(([path, byMethod]) =>
    Object.entries(byMethod)
      .sort(([a], [b]) => METHOD_ORDER.indexOf(a) - METHOD_ORDER.indexOf(b))
      .map(([method, op]) => ({ path, method, op }))
  );
  const tags = (document.tags as Json[] | undefined) ?? [];

  const nav = tags
    .map((tag) => {
      const links = operations
        .filter(({ op }) => (op.tags as string[]).includes(String(tag.name)))
        .map(
          ({ path, method, op }) =>
            `<li><a href="#${escapeHtml(String(op.operationId))}"><span class="m ${method}">${method.toUpperCase()}</span> ${escapeHtml(path)}</a></li>`
        )
        .join('');
      return `<h3>${escapeHtml(String(tag.name))}</h3><ul>${links}</ul>`;
    })
    .join('');

  const auth = (op: Json) => {
    const security = (op.security ?? document.security) as Json[];
    if (security.length === 0) {
      return '<p class="auth">No IAM signature: authorized by the token in the body.</p>';
    }
    return `<p class="auth">Auth: ${security
      .flatMap((s) => Object.keys(s))
      .map((name) => `<a href="#auth">${escapeHtml(name)}</a> (SigV4)`)
      .join(', ')}</p>`;
  };

  const parametersOf = (op: Json) => {
    const params = (op.parameters as Json[] | undefined) ?? [];
    if (params.length === 0) return '';
    const rows = params
      .map(
        (p) =>
          `<tr><td><code>${escapeHtml(String(p.name))}</code>${p.required ? ' <span class="req">required</span>' : ''}</td><td>${escapeHtml(String(p.in))}</td><td>${typeOf(p.schema as Json)}</td><td>${prose(p.description)}</td></tr>`
      )
      .join('');
    return `<h4>Parameters</h4><table><thead><tr><th>name</th><th>in</th><th>type</th><th>meaning</th></tr></thead><tbody>${rows}</tbody></table>`;
  };

  const bodyOf = (op: Json) => {
    const body = op.requestBody as Json | undefined;
    if (body === undefined) return '';
    return `<h4>Request body</h4><p>${typeOf(contentSchema(body))}: ${prose(body.description)}</p>`;
  };

  const responsesOf = (op: Json) => {
    const rows = Object.entries(op.responses as Record<string, Json>)
      .map(([status, given]) => {
        const shared =
          typeof given.$ref === 'string'
            ? sharedResponses[given.$ref.split('/').pop() ?? '']
            : undefined;
        const response = shared ?? given;
        const schema = contentSchema(response);
        return `<tr><td class="status s${status[0]}">${escapeHtml(status)}</td><td>${schema ? typeOf(schema) : '<span class="note">no body</span>'}</td><td>${prose(given.description ?? response.description)}</td></tr>`;
      })
      .join('');
    return `<h4>Responses</h4><table><thead><tr><th>status</th><th>body</th><th>when</th></tr></thead><tbody>${rows}</tbody></table>`;
  };

  const operationsHtml = operations
    .map(
      ({
        path,
        method,
        op,
      }) => `<section class="op" id="${escapeHtml(String(op.operationId))}">
<h2><span class="m ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h2>
<p class="summary">${prose(op.summary)}</p>
${paragraphs(op.description)}
${auth(op)}
${parametersOf(op)}
${bodyOf(op)}
${responsesOf(op)}
</section>`
    )
    .join('\n');

  const schemas = Object.entries(
    (components.schemas ?? {}) as Record<string, Json>
  )
    .map(([name, schema]) => {
      const union = (schema.oneOf ?? schema.anyOf) as Json[] | undefined;
      const body = schema.properties
        ? fieldsTable(schema)
        : `<p>${union ? `one of ${typeOf(schema)}` : typeOf(schema)}</p>`;
      return `<section class="schema" id="${anchorOf(name)}"><h3>${escapeHtml(name)}</h3>${paragraphs(schema.description)}${body}</section>`;
    })
    .join('\n');

  const security = Object.entries(schemes)
    .map(
      ([name, scheme]) =>
        `<p><code>${escapeHtml(name)}</code>: ${escapeHtml(String(scheme.type))} in header <code>${escapeHtml(String(scheme.name))}</code>. ${prose(scheme.description)}</p>`
    )
    .join('');
  const servers = ((document.servers as Json[] | undefined) ?? [])
    .map(
      (s) =>
        `<li><code>${escapeHtml(String(s.url))}</code>: ${prose(s.description)}</li>`
    )
    .join('');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(String(info.title))} ${escapeHtml(String(info.version))}</title>
<style>
body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: #1d232b; display: flex; }
nav { width: 19rem; flex: none; height: 100vh; position: sticky; top: 0; overflow: auto; background: #f3f5f7; padding: 1rem; box-sizing: border-box; font-size: 13px; }
nav ul { list-style: none; padding: 0; margin: 0 0 1rem; }
nav li a { display: block; padding: 2px 0; color: inherit; text-decoration: none; }
nav h3 { margin: 1rem 0 .3rem; font-size: 12px; text-transform: uppercase; color: #59636e; }
main { flex: 1; padding: 1rem 2.5rem 4rem; max-width: 64rem; }
code { font: 13px ui-monospace, monospace; background: #eef1f4; padding: 0 3px; border-radius: 3px; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; font-size: 14px; }
th, td { text-align: left; vertical-align: top; border-bottom: 1px solid #e1e5e9; padding: 4px 8px; }
th { font-size: 12px; color: #59636e; }
table.fields table.fields { margin: .3rem 0; }
.m { display: inline-block; min-width: 3.6em; font: bold 12px ui-monospace, monospace; color: #fff; border-radius: 3px; padding: 1px 4px; text-align: center; }
.get { background: #2f7d32; } .post { background: #1f5fa8; } .delete { background: #b3261e; } .put { background: #8a5a00; }
.op { border-top: 1px solid #d0d7de; padding-top: .6rem; margin-top: 1.6rem; }
.op h2 { font-size: 18px; margin: .2rem 0; }
.summary { font-weight: 600; margin: .2rem 0; }
.auth { color: #59636e; }
.req { font-size: 11px; color: #b3261e; }
.note { color: #59636e; font-size: 13px; }
.status { font: bold 13px ui-monospace, monospace; }
.s2 { color: #2f7d32; } .s4 { color: #8a5a00; } .s5 { color: #b3261e; }
h4 { margin: .8rem 0 .2rem; }
</style>
</head>
<body>
<nav>
<strong>${escapeHtml(String(info.title))}</strong>
<p><a href="/openapi.json">openapi.json</a> · <a href="#auth">auth</a> · <a href="#schemas">schemas</a></p>
${nav}
</nav>
<main>
<h1>${escapeHtml(String(info.title))} <span class="note">${escapeHtml(String(info.version))} · OpenAPI ${escapeHtml(String(document.openapi))}</span></h1>
<p class="summary">${prose(info.summary)}</p>
${paragraphs(info.description)}
<h2>Servers</h2><ul>${servers}</ul>
<h2 id="auth">Authorization</h2>${security}
${operationsHtml}
<h2 id="schemas">Schemas</h2>
${schemas}
</main>
</body>
</html>
`;
};
