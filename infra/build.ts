/**
 * `npm run build` (and `npm pack`, through `prepack`): the package a team
 * installs into its own CDK app, in `dist/`:
 * - the constructs as ESM with type declarations (`tsc -p
 *   tsconfig.build.json`), from `infra/index.ts`;
 * - each Lambda handler prebuilt with the house esbuild options
 *   (`dist/lambda/<handler>/index.mjs`, with its source map), which
 *   `ServiceFunction` takes instead of bundling at synth: the installing
 *   project needs neither esbuild nor tsx, only aws-cdk-lib and constructs.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { HOUSE_ESBUILD } from './constructs/service-function.ts';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');

rmSync(dist, { recursive: true, force: true });
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});
const handlers = readdirSync(join(root, 'functions', 'handlers'))
  .filter((name) => name.endsWith('.ts'))
  .map((name) => name.slice(0, -'.ts'.length));
for (const name of handlers) {
  await build({
    ...HOUSE_ESBUILD,
    absWorkingDir: root,
    entryPoints: [`functions/handlers/${name}.ts`],
    outfile: join(dist, 'lambda', name, 'index.mjs'),
    logLevel: 'warning',
  });
}
console.log(
  `dist: the constructs (dist/infra/index.js) and ${handlers.length} prebuilt handlers (dist/lambda/)`
);
