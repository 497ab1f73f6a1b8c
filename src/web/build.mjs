// Builds the web client into OUTDIR: index.html plus assets/ named by content
// hash (served as immutable; index.html is no-cache). Fails when the gzipped
// JavaScript and CSS exceed the budget.
//   node build.mjs OUTDIR DEPS_DIR     (DEPS_DIR holds node_modules from `npm ci`)
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const BUDGET = 150 * 1024;
const here = dirname(fileURLToPath(import.meta.url));
const [outdir, deps] = process.argv.slice(2).map((p) => resolve(p));
if (!outdir || !deps) {
  console.error('usage: node build.mjs OUTDIR DEPS_DIR');
  process.exit(2);
}
const esbuild = createRequire(join(deps, 'package.json'))('esbuild');

rmSync(outdir, { recursive: true, force: true });
const result = await esbuild.build({
  entryPoints: { app: join(here, 'js/main.js'), style: join(here, 'app.css') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  outdir: join(outdir, 'assets'),
  entryNames: '[name]-[hash]',
  nodePaths: [join(deps, 'node_modules')],
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => resolve(p));
const js = outputs.find((p) => /app-[^/]+\.js$/.test(p));
const css = outputs.find((p) => /style-[^/]+\.css$/.test(p));
const html = readFileSync(join(here, 'index.html'), 'utf8')
  .replace('href="app.css"', `href="/assets/${css.split('/').pop()}"`)
  .replace('src="app.js"', `src="/assets/${js.split('/').pop()}"`);
if (html.includes('"app.js"') || html.includes('"app.css"')) throw new Error('index.html: asset references not replaced');
mkdirSync(outdir, { recursive: true });
writeFileSync(join(outdir, 'index.html'), html);

let gz = 0;
let raw = 0;
for (const f of readdirSync(join(outdir, 'assets'))) {
  const b = readFileSync(join(outdir, 'assets', f));
  raw += b.length;
  gz += gzipSync(b, { level: 9 }).length;
}
gz += gzipSync(html, { level: 9 }).length;
console.log(`web client: ${(raw / 1024).toFixed(1)} KiB of assets, ${(gz / 1024).toFixed(1)} KiB gzipped with index.html (budget ${BUDGET / 1024} KiB) -> ${outdir}`);
if (gz > BUDGET) {
  console.error(`web client: ${gz} bytes gzipped is over the ${BUDGET}-byte budget`);
  process.exit(1);
}
