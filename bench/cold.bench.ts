/**
 * Cold-start benchmark: what each Lambda bundle costs before its first
 * invocation. Synthesizes the app with its esbuild bundles (as `cdk synth`
 * does, into a temporary cloud assembly), or reads a cloud assembly already
 * synthesized, and prints per function:
 * - the bundle's size (`asset.<hash>/index.mjs`, KB = 1024 bytes);
 * - module init: the whole-process time of `node` importing the bundle and
 *   exiting, with the function's own `NODE_OPTIONS` (`--enable-source-maps`)
 *   and Powertools environment, median of `--runs`;
 * - that time divided by the same for an empty ESM handler
 *   (`export const handler = async () => {};`), which is Node's own start.
 * - as references, not held to the targets, the same for floors
 *   (bench/floor/), bundled the house way: one part alone (the DynamoDB
 *   document client, Powertools' Logger), and the house libraries that
 *   every API function loads (Powertools' Logger and Metrics, middy, zod)
 *   with either the SDK's SigV4 signer over `node:https` (what a
 *   hand-written AWS client would still load) or the DynamoDB document
 *   client: what a target leaves for everything else. When a floor alone
 *   misses the ratio target, no function carrying its libraries can meet
 *   it, and the verdict says so.
 * Runs are interleaved (one of every bundle and of the empty handler per
 * round, after one round that is not counted), so a machine that gets
 * slower or faster meanwhile shifts every figure alike. Prints PASS or FAIL
 * against the targets and exits 1 when one is missed.
 *
 *   npm run bench:cold                      # synthesize, then measure
 *   npm run bench:cold -- cdk.out           # measure what `cdk synth` wrote
 *   npm run bench:cold -- --runs 25 --why   # also the largest packages
 *   npm run --silent bench:cold -- --json   # one JSON object on stdout
 *   npm run bench:cold -- --node "$(npx -y -p node@24 which node)"
 *                                           # time with Lambda's Node
 *
 * `--why` bundles each handler again with the house esbuild options
 * (HOUSE_BUNDLING) to read esbuild's metafile, and lists the packages that
 * take the most bytes of the bundle.
 */
import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { printTable } from './meters.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    json: { type: 'boolean', default: false },
    runs: { type: 'string', default: '15' },
    why: { type: 'boolean', default: false },
    node: { type: 'string' },
  },
});
const json = values.json === true;
const why = values.why === true;
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  throw new Error(`--runs must be a whole number ≥ 1, not ${values.runs}`);
}
/** The Node that runs each bundle: this one, or `--node <path>`. */
const nodeBin = values.node ? resolve(values.node) : process.execPath;
const nodeVersion = spawnSync(nodeBin, ['--version'], { encoding: 'utf8' });
if (nodeVersion.status !== 0) {
  throw new Error(`--node ${values.node} is not a Node that runs.`);
}
const nodeVersionText = nodeVersion.stdout.trim();
// Everything but the JSON goes to stderr in --json mode.
const out = json ? console.error : console.log;
if (json) console.log = console.error;

/** Bundles of bench/floor/, timed beside the functions as references. */
const FLOORS = [
  'dynamodb-client',
  'powertools-logger',
  'house-without-sdk',
  'house-with-dynamodb',
] as const;

/** Targets of issue 9, item 5. */
const TARGETS = { maxKb: 600, maxRatio: 2 } as const;

/** One Lambda function of the cloud assembly. */
interface LambdaBundle {
  /** The handler's name (`functions/handlers/<name>.ts`). */
  readonly name: string;
  readonly entry: string;
  readonly file: string;
  /** Its environment variables that are plain strings. */
  readonly environment: Record<string, string>;
}

type Template = {
  Resources?: Record<
    string,
    {
      Type?: string;
      Properties?: { Environment?: { Variables?: Record<string, unknown> } };
      Metadata?: Record<string, unknown>;
    }
  >;
};

const bundlesOf = (templates: Template[], assembly: string): LambdaBundle[] =>
  templates
    .flatMap((template) => Object.values(template.Resources ?? {}))
    .filter((r) => r.Type === 'AWS::Lambda::Function')
    .map((r) => {
      const assetPath = r.Metadata?.['aws:asset:path'];
      const entry = r.Metadata?.LocalEntry;
      if (typeof assetPath !== 'string' || typeof entry !== 'string') {
        throw new Error(
          'A function has no asset path or LocalEntry metadata (synthesize with asset metadata, as the CDK CLI does).'
        );
      }
      const variables = r.Properties?.Environment?.Variables ?? {};
      return {
        name: basename(entry, '.ts'),
        entry,
        file: join(assembly, assetPath, 'index.mjs'),
        environment: Object.fromEntries(
          Object.entries(variables).filter(
            (kv): kv is [string, string] => typeof kv[1] === 'string'
          )
        ),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));

const work = mkdtempSync(join(tmpdir(), 'bench-cold-'));
const main = async () => {
  let assembly: string;
  let templates: Template[];
  if (positionals[0]) {
    assembly = resolve(positionals[0]);
    templates = readdirSync(assembly)
      .filter((f) => f.endsWith('.template.json'))
      .map((f) => JSON.parse(readFileSync(join(assembly, f), 'utf8')));
  } else {
    assembly = join(work, 'cdk.out');
    out('Synthesizing the app with its bundles …');
    const { synthWithBundles } = await import('../local/engine/synth.ts');
    templates = Object.values(
      synthWithBundles(assembly, {
        // What the CDK CLI sets: each resource names its asset directory.
        context: { 'aws:cdk:enable-asset-metadata': true },
      })
    );
  }
  const bundles = bundlesOf(templates, assembly);
  if (bundles.length === 0) throw new Error(`No functions in ${assembly}.`);

  // The baseline: Node importing an empty ESM handler, with the same
  // NODE_OPTIONS as the functions (the house sets one for all).
  const empty = join(work, 'empty', 'index.mjs');
  mkdirSync(join(work, 'empty'));
  writeFileSync(empty, 'export const handler = async () => {};\n');
  const nodeOptions = bundles[0]?.environment.NODE_OPTIONS ?? '';
  // Floors: one part alone, bundled the house way, to show what a target
  // leaves for the rest. Not held to the targets.
  const floors: LambdaBundle[] = [];
  for (const name of FLOORS) {
    const entry = `bench/floor/${name}.ts`;
    const file = join(work, 'floor', name, 'index.mjs');
    await houseBuild(entry, file, true);
    floors.push({
      name,
      entry,
      file,
      environment: {
        NODE_OPTIONS: nodeOptions,
        // What Lambda gives every function (placeholders: nothing is called).
        AWS_ACCESS_KEY_ID: 'AKIDFLOOR',
        AWS_SECRET_ACCESS_KEY: 'floor',
      },
    });
  }
  const subjects = [
    { name: 'empty', file: empty, environment: { NODE_OPTIONS: nodeOptions } },
    ...bundles,
    ...floors,
  ];

  const timeOnce = (file: string, environment: Record<string, string>) => {
    const started = process.hrtime.bigint();
    const child = spawnSync(
      nodeBin,
      ['--input-type=module', '-e', 'await import(process.argv[1])', file],
      {
        env: {
          PATH: process.env.PATH ?? '',
          AWS_REGION: 'us-east-1',
          ...environment,
        },
        encoding: 'utf8',
      }
    );
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (child.status !== 0) {
      throw new Error(`${file} did not load: ${child.stderr.slice(-1500)}`);
    }
    return ms;
  };
  const times = new Map<string, number[]>(subjects.map((s) => [s.file, []]));
  out(`Timing ${bundles.length} bundles and the empty handler, ${runs} runs …`);
  for (let round = 0; round <= runs; round++) {
    for (const subject of subjects) {
      const ms = timeOnce(subject.file, subject.environment);
      if (round > 0) times.get(subject.file)?.push(ms);
    }
  }
  const median = (list: number[]) => {
    const sorted = [...list].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  };
  const emptyMs = median(times.get(empty) ?? []);

  const packagesOf = why ? await metafiles(bundles) : undefined;
  const rows = bundles.map((b) => {
    const kb = statSync(b.file).size / 1024;
    const initMs = median(times.get(b.file) ?? []);
    const ratio = initMs / emptyMs;
    const misses = [
      ...(kb > TARGETS.maxKb ? [`${kb.toFixed(0)} KB > ${TARGETS.maxKb}`] : []),
      ...(ratio > TARGETS.maxRatio
        ? [`init ${ratio.toFixed(2)}× > ${TARGETS.maxRatio}×`]
        : []),
    ];
    return {
      name: b.name,
      entry: b.entry,
      kb: Number(kb.toFixed(1)),
      initMs: Number(initMs.toFixed(1)),
      addedMs: Number((initMs - emptyMs).toFixed(1)),
      ratio: Number(ratio.toFixed(2)),
      pass: misses.length === 0,
      misses,
      ...(packagesOf ? { packages: packagesOf.get(b.entry) ?? [] } : {}),
    };
  });
  const floorRows = floors.map((f) => {
    const initMs = median(times.get(f.file) ?? []);
    return {
      name: f.name,
      entry: f.entry,
      kb: Number((statSync(f.file).size / 1024).toFixed(1)),
      initMs: Number(initMs.toFixed(1)),
      addedMs: Number((initMs - emptyMs).toFixed(1)),
      ratio: Number((initMs / emptyMs).toFixed(2)),
    };
  });
  // A floor that alone misses the ratio: nothing that carries it can pass.
  const floorsOver = floorRows.filter((f) => f.ratio > TARGETS.maxRatio);
  const failed = rows.filter((r) => !r.pass);
  const verdict =
    failed.length === 0
      ? `PASS: every bundle ≤ ${TARGETS.maxKb} KB and init ≤ ${TARGETS.maxRatio}× empty`
      : `FAIL: ${failed.length} of ${rows.length} bundles miss a target (≤ ${TARGETS.maxKb} KB, init ≤ ${TARGETS.maxRatio}× empty): ${failed.map((r) => `${r.name} (${r.misses.join(', ')})`).join('; ')}${
          floorsOver.length > 0
            ? `\nFloors that alone take more than ${TARGETS.maxRatio}× (no function loading their libraries can meet the ratio): ${floorsOver.map((f) => `${f.name} ${f.ratio.toFixed(2)}×`).join(', ')}`
            : ''
        }`;

  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        targets: TARGETS,
        runs,
        node: nodeVersionText,
        nodeOptions,
        emptyMs: Number(emptyMs.toFixed(1)),
        bundles: rows,
        floors: floorRows,
        floorsOverRatio: floorsOver.map((f) => f.name),
        pass: failed.length === 0,
      })}\n`
    );
  } else {
    const table = [
      ['function', 'KB', 'init ms', '+ ms', '× empty', ''],
      ...rows.map((r) => [
        r.name,
        r.kb.toFixed(0),
        r.initMs.toFixed(0),
        r.addedMs.toFixed(0),
        r.ratio.toFixed(2),
        r.pass ? '✓' : '✗',
      ]),
      ['(empty handler)', '', emptyMs.toFixed(0), '0', '1.00', ''],
      ...floorRows.map((r) => [
        `(${r.name} alone)`,
        r.kb.toFixed(0),
        r.initMs.toFixed(0),
        r.addedMs.toFixed(0),
        r.ratio.toFixed(2),
        '',
      ]),
    ];
    out('');
    printTable(table, out);
    out(
      `\nmedian of ${runs} interleaved runs; NODE_OPTIONS=${nodeOptions || '(none)'}; node ${nodeVersionText}`
    );
    if (packagesOf) {
      out('\nlargest packages (KB of the bundle, from esbuild’s metafile):');
      const nameWidth = Math.max(...table.map((row) => (row[0] ?? '').length));
      for (const r of rows) {
        const top = (packagesOf.get(r.entry) ?? []).slice(0, 6);
        out(
          `  ${r.name.padEnd(nameWidth)}  ${top.map((p) => `${p.name} ${p.kb.toFixed(0)}`).join(' · ')}`
        );
      }
    }
    out(`\n${verdict}`);
  }
  return failed.length === 0;
};

/**
 * Bundles an entry (a path from the project root) with the house esbuild
 * options, as the synth does.
 */
const houseBuild = async (entry: string, outfile: string, write: boolean) => {
  const { build } = await import('esbuild');
  const { HOUSE_ESBUILD } = await import(
    '../infra/constructs/service-function.ts'
  );
  return build({
    ...HOUSE_ESBUILD,
    absWorkingDir: resolve(import.meta.dirname, '..'),
    entryPoints: [entry],
    outfile,
    metafile: true,
    write,
    logLevel: 'error',
  });
};

/**
 * Bundles each handler again with the house options and sums the bytes
 * each package (or project folder) takes in the output.
 */
const metafiles = async (bundles: LambdaBundle[]) => {
  const result = new Map<string, Array<{ name: string; kb: number }>>();
  for (const b of bundles) {
    const built = await houseBuild(
      b.entry,
      join(work, 'metafile', b.name, 'index.mjs'),
      false
    );
    const output = Object.values(built.metafile.outputs).find(
      (o) => o.entryPoint
    );
    const bytes = new Map<string, number>();
    for (const [path, input] of Object.entries(output?.inputs ?? {})) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
      const name = pkg ?? path.split('/').slice(0, 2).join('/');
      bytes.set(name, (bytes.get(name) ?? 0) + input.bytesInOutput);
    }
    result.set(
      b.entry,
      [...bytes]
        .map(([name, n]) => ({ name, kb: Number((n / 1024).toFixed(1)) }))
        .sort((x, y) => y.kb - x.kb)
    );
  }
  return result;
};

try {
  const pass = await main();
  process.exitCode = pass ? 0 : 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
