// `npm run build`: builds <package name>.wasm, a component of the WIT world named in
// package.json ("erpSync.world"), from the module in package.json's "main".
//
// The WIT contract is read from wit/erp-sync-transform@1.0.0/ beside this file. Inside
// the erp-sync repository it is copied there from ../../wit on every build (so it is
// never stale and never committed); a copy of this template made elsewhere (e.g. by
// `erp-sync transform new`) carries its own wit/ folder.
//
// With a tsconfig.json (the TypeScript templates), it first generates the WIT's types
// into types/ (`jco guest-types`), type-checks (`tsc --noEmit`) and compiles src/ to
// dist/ (`tsc`).
import { componentize } from '@bytecodealliance/componentize-js';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

process.chdir(new URL('.', import.meta.url).pathname);
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const WORLD = pkg.erpSync.world;
const OUTPUT = `${pkg.name}.wasm`;
const WIT = 'wit/erp-sync-transform@1.0.0';

const repoWit = '../../wit/erp-sync-transform@1.0.0';
if (existsSync(`${repoWit}/transform.wit`)) cpSync(repoWit, WIT, { recursive: true });
if (!existsSync(`${WIT}/transform.wit`)) {
  console.error(`${WIT}/transform.wit is missing: copy wit/erp-sync-transform@1.0.0 from the erp-sync repository here`);
  process.exit(1);
}

const started = Date.now();
if (existsSync('tsconfig.json')) {
  const run = (tool, args) => execFileSync(`node_modules/.bin/${tool}`, args, { stdio: 'inherit' });
  // A relative WIT path: jco runs its WIT parser inside a WASI sandbox.
  run('jco', ['guest-types', WIT, '--world-name', WORLD, '-o', 'types', '--quiet']);
  run('tsc', ['--noEmit']);
  run('tsc', []);
}

const { component } = await componentize(readFileSync(pkg.main, 'utf8'), {
  sourceName: basename(pkg.main),
  witPath: WIT,
  worldName: WORLD,
  // erp-sync gives guests WASI preview 2 without network: wasi:http (and the fetch
  // event built on it) would be refused at upload. Clocks and random would make the
  // output differ between retries. stdio stays on: console.log/console.error and an
  // uncaught exception's message reach the sync log's guest logs.
  disableFeatures: ['random', 'clocks', 'http', 'fetch-event'],
});
writeFileSync(OUTPUT, component);
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`wrote ${OUTPUT}: ${component.byteLength} bytes in ${seconds} s`);
