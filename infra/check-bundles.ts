/**
 * After `cdk synth`: loads every Lambda bundle esbuild produced, as the
 * Lambda runtime would import it, and checks that it exports `handler`.
 * Catches what type checks cannot: a CommonJS dependency calling require()
 * in an ESM bundle, a module reading the environment at load time, a
 * missing file. Run by `.ci/run`.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const out = resolve(process.argv[2] ?? 'cdk.out');
const bundles = readdirSync(out)
  .filter((name) => name.startsWith('asset.'))
  .map((name) => join(out, name, 'index.mjs'))
  .filter((file) => {
    try {
      return readdirSync(join(file, '..')).includes('index.mjs');
    } catch {
      return false;
    }
  });
if (bundles.length === 0) {
  console.error(`No Lambda bundles in ${out}: run cdk synth first.`);
  process.exit(1);
}
let failed = 0;
for (const file of bundles) {
  try {
    const mod = (await import(pathToFileURL(file).href)) as {
      handler?: unknown;
    };
    if (typeof mod.handler !== 'function') {
      throw new Error('exports no handler function');
    }
  } catch (error) {
    failed += 1;
    console.error(`${file}: ${error instanceof Error ? error.message : error}`);
  }
}
console.log(
  `Lambda bundles: ${bundles.length - failed} of ${bundles.length} load and export handler`
);
process.exit(failed === 0 ? 0 : 1);
