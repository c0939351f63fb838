// `npm test`: runs the built component on every invoice tests/NAME.json with
// `erp-sync transform run` (the binary from $ERP_SYNC, else `erp-sync` on the PATH) and
// compares its output with tests/NAME.expected.json, as JSON: the webhook body for a
// webhook transform, the adjusted invoice for a tweak. tests/NAME.config.json, if
// present, is an object of the guest's config entries.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';

const [wasm, dir] = process.argv.slice(2);
const bin = process.env.ERP_SYNC ?? 'erp-sync';
if (!existsSync(wasm)) {
  console.error(`${wasm} is missing: run \`npm run build\` first`);
  process.exit(1);
}
let failed = 0;
const cases = readdirSync(dir).filter((f) => f.endsWith('.json') && !/\.(expected|config)\.json$/.test(f));
for (const file of cases.sort()) {
  const name = file.slice(0, -'.json'.length);
  const args = ['transform', 'run', wasm, `${dir}/${file}`];
  if (existsSync(`${dir}/${name}.config.json`)) {
    for (const [k, v] of Object.entries(JSON.parse(readFileSync(`${dir}/${name}.config.json`, 'utf8')))) {
      args.push('--config', `${k}=${v}`);
    }
  }
  const run = spawnSync(bin, args, { encoding: 'utf8' });
  if (run.error) {
    console.error(`running ${bin}: ${run.error.message} (set ERP_SYNC to the erp-sync binary)`);
    process.exit(1);
  }
  if (run.status !== 0) {
    console.log(`FAIL ${name}: the component failed\n${run.stdout}${run.stderr}`);
    failed++;
    continue;
  }
  // "== <world> (...)\n== output\n<output>\n== guest ...|== time ..."
  let output = run.stdout.split('\n== output\n')[1].split(/\n== (guest|time|\()/)[0];
  if (run.stdout.startsWith('== webhook-transform')) output = output.slice(output.indexOf('\n\n') + 2);
  const expected = JSON.parse(readFileSync(`${dir}/${name}.expected.json`, 'utf8'));
  let actual;
  try {
    actual = JSON.parse(output);
  } catch {
    actual = output;
  }
  if (isDeepStrictEqual(actual, expected)) {
    console.log(`ok   ${name}`);
  } else {
    console.log(`FAIL ${name}\n  expected: ${JSON.stringify(expected)}\n  actual:   ${JSON.stringify(actual)}`);
    failed++;
  }
}
console.log(`${cases.length - failed} of ${cases.length} passed`);
process.exit(failed ? 1 : 0);
