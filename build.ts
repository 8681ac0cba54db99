// Builds dist/zakadrom: one executable holding the bot, the migrations, the sandbox, SQLite
// (bun:sqlite), sharp with its libvips, and the tinypool worker. Run: bun run build.ts [--baseline]
//   --baseline    for x86-64 CPUs without AVX2 (bun-linux-x64-baseline)
//   --outfile P   where to write the executable (default dist/zakadrom)
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { BunPlugin } from 'bun';

const root = import.meta.dir;
const args = process.argv.slice(2);
const baseline = args.includes('--baseline');
const outIndex = args.indexOf('--outfile');
const outfile = resolve(root, outIndex >= 0 ? (args[outIndex + 1] ?? '') : 'dist/zakadrom');

/** The SQL files become string constants: a binary reads nothing from paths next to the source. */
const embedMigrations: BunPlugin = {
  name: 'embed-migrations',
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/]db[\\/]migration-files\.ts$/ }, () => {
      const dir = join(root, 'migrations');
      const files = readdirSync(dir)
        .filter((name) => name.endsWith('.sql'))
        .sort()
        .map((name) => ({ name, sql: readFileSync(join(dir, name), 'utf8') }));
      return {
        loader: 'ts',
        contents: `export function loadMigrationFiles() { return ${JSON.stringify(files)}; }`,
      };
    });
  },
};

/**
 * sharp's ESM entry loads its addon through createRequire, which the bundler does not follow,
 * and the addon finds libvips through an RPATH into node_modules. So: bundle sharp's CommonJS
 * entry, and replace its addon-loader module with one that embeds the addon and libvips as
 * files, extracts them once into a content-hashed cache folder laid out like node_modules (the
 * RPATH $ORIGIN/../../sharp-libvips-linux-x64/lib then finds libvips) and loads the addon.
 */
function embedSharp(): BunPlugin {
  const sharpPkg = dirname(Bun.resolveSync('sharp/package.json', root));
  const { version } = JSON.parse(readFileSync(join(sharpPkg, 'package.json'), 'utf8')) as { version: string };
  const platform = 'linux-x64';
  const addonDir = dirname(Bun.resolveSync(`@img/sharp-${platform}/package.json`, sharpPkg));
  const vipsDir = dirname(Bun.resolveSync(`@img/sharp-libvips-${platform}/package.json`, sharpPkg));
  const addonName = `sharp-${platform}-${version}.node`;
  const vipsName = readdirSync(join(vipsDir, 'lib')).find((f) => f.startsWith('libvips-cpp.so'));
  if (!vipsName) throw new Error(`no libvips-cpp.so in ${vipsDir}/lib: reinstall sharp`);
  const files = [
    { source: join(addonDir, 'lib', addonName), relative: `@img/sharp-${platform}/lib/${addonName}` },
    { source: join(vipsDir, 'lib', vipsName), relative: `@img/sharp-libvips-${platform}/lib/${vipsName}` },
  ];
  const hash = createHash('sha256');
  for (const f of files) hash.update(f.relative).update(readFileSync(f.source));
  const folder = `sharp-${version}-${hash.digest('hex').slice(0, 16)}`;
  const extract = join(root, 'src/native/extract.ts');

  return {
    name: 'embed-sharp',
    setup(build) {
      build.onResolve({ filter: /^sharp$/ }, () => ({ path: join(sharpPkg, 'dist/index.cjs') }));
      build.onLoad({ filter: /[\\/]sharp[\\/]dist[\\/]sharp\.cjs$/ }, () => ({
        loader: 'js',
        contents: `module.exports = require('zakadrom-embedded-sharp').loadSharpAddon();`,
      }));
      build.onResolve({ filter: /^zakadrom-embedded-sharp$/ }, () => ({ path: 'embedded-sharp', namespace: 'zakadrom' }));
      build.onLoad({ filter: /^embedded-sharp$/, namespace: 'zakadrom' }, () => ({
        loader: 'ts',
        resolveDir: root,
        contents: [
          ...files.map((f, i) => `import file${i} from ${JSON.stringify(f.source)} with { type: 'file' };`),
          `import { dirname } from 'node:path';`,
          `import { cacheCandidates, loadEmbeddedAddon } from ${JSON.stringify(extract)};`,
          `const files = [${files.map((f, i) => `{ embedded: file${i}, relative: ${JSON.stringify(f.relative)} }`).join(', ')}];`,
          `export function loadSharpAddon() {`,
          `  const uid = process.getuid ? process.getuid() : -1;`,
          `  const candidates = cacheCandidates(process.env, uid, dirname(process.execPath));`,
          `  const addon = loadEmbeddedAddon(${JSON.stringify(folder)}, files, files[0].relative, candidates, uid);`,
          // The check sharp's own loader makes: its prebuilt x64 addon needs x86-64-v2.
          `  if (!addon._isUsingX64V2()) throw new Error('this CPU lacks the x86-64-v2 instructions the image library needs');`,
          `  return addon;`,
          `}`,
        ].join('\n'),
      }));
    },
  };
}

/** In the executable, the worker entrypoint is embedded as analysis/worker.js under the root. */
const embeddedWorker: BunPlugin = {
  name: 'embedded-worker',
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/]analysis[\\/]worker-file\.ts$/ }, () => ({
      loader: 'ts',
      contents: `export function workerModuleUrl() { return '/$bunfs/root/analysis/worker.js'; }`,
    }));
  },
};

/** tinypool starts each thread from entry/worker.js next to its own module: src/entry/worker.js maps onto it. */
const tinypoolEntry: BunPlugin = {
  name: 'tinypool-entry',
  setup(build) {
    const dist = dirname(Bun.resolveSync('tinypool', root));
    build.onResolve({ filter: /^tinypool\/dist\/entry\/worker\.js$/ }, () => ({ path: join(dist, 'entry/worker.js') }));
  },
};

const result = await Bun.build({
  // Worker files must be entrypoints of their own in an executable; paths stay relative to src/.
  entrypoints: [join(root, 'src/main.ts'), join(root, 'src/analysis/worker.ts'), join(root, 'src/entry/worker.js')],
  compile: {
    target: baseline ? 'bun-linux-x64-baseline' : 'bun-linux-x64',
    outfile,
    // A server binary must behave the same wherever it is started: settings come from flags and
    // the environment only, never from a .env or bunfig.toml that happens to be in the folder.
    autoloadDotenv: false,
    autoloadBunfig: false,
    autoloadTsconfig: false,
    autoloadPackageJson: false,
  },
  minify: true,
  sourcemap: 'none',
  plugins: [embedMigrations, embedSharp(), tinypoolEntry, embeddedWorker],
});
if (!result.success) {
  for (const log of result.logs) console.error(String(log));
  process.exit(1);
}
console.log(`built ${outfile}${baseline ? ' (baseline CPU target)' : ''}`);
