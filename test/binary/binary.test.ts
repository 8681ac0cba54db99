// The compiled executable, built from these sources and copied alone into an empty folder with
// no node_modules: the commands, the self-test, the native-library cache and its fallbacks, and
// the end-to-end and SIGKILL suites with the binary as the bot.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { corpusSuite } from '../e2e/corpus-suite.ts';
import { restartSuite } from '../e2e/restart-suite.ts';
import { tempDir } from '../helpers/db.ts';
import { ROOT, runZakadrom, type StartOptions } from '../helpers/processes.ts';

const BUN = join(ROOT, 'node_modules/.bin/bun');

/** Builds once per test process into a fresh folder, then copies the file alone elsewhere. */
function buildBinary(): { binary?: string; skip: string | false } {
  if (!existsSync(BUN)) return { skip: `no bun at ${BUN}: run npm install` };
  const out = join(tempDir('zakadrom-build-'), 'zakadrom');
  const built = spawnSync(BUN, ['run', join(ROOT, 'build.ts'), '--outfile', out], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`build failed:\n${built.stdout}\n${built.stderr}`);
  const home = tempDir('zakadrom-bin-');
  const binary = join(home, 'zakadrom');
  copyFileSync(out, binary);
  spawnSync('chmod', ['+x', binary]);
  return { binary, skip: false };
}

const { binary, skip } = buildBinary();
const here = binary ? join(binary, '..') : ROOT;
// Each run gets its own HOME so the native cache starts empty where a test wants it to.
const how: StartOptions = { command: { cmd: binary ?? '', args: [] }, cwd: here };

function run(argv: string[], env: Record<string, string | undefined> = {}, cwd = here) {
  return runZakadrom(argv, env, { ...how, cwd });
}

describe('the compiled binary, alone in an empty folder', { skip }, () => {
  it('has nothing next to it: no node_modules, no sources', () => {
    assert.deepEqual(readdirSync(here), ['zakadrom']);
  });

  it('answers --version and --help', async () => {
    assert.match((await run(['--version'])).stdout, /^zakadrom \d+\.\d+\.\d+\n$/);
    assert.match((await run(['--help'])).stdout, /Commands:.*doctor/s);
  });

  it('doctor: SQLite, the image library in a worker, the database file, all ok', async () => {
    const home = tempDir('zakadrom-home-');
    const r = await run(['doctor', '--db', join(home, 'none.db')], { HOME: home, XDG_CACHE_HOME: '' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /ok +sqlite: bun:sqlite/);
    assert.match(r.stdout, /ok +image analysis in a worker thread/);
    assert.ok(existsSync(join(home, '.cache/zakadrom')), 'libvips extracted to the user cache by default');
  });

  it('three processes racing on an empty cache all start, and leave one complete copy', async () => {
    const cache = tempDir('zakadrom-race-');
    const results = await Promise.all([1, 2, 3].map(() => run(['doctor', '--json'], { ZAKADROM_NATIVE_DIR: cache })));
    for (const r of results) assert.equal(r.code, 0, r.stdout + r.stderr);
    const folders = readdirSync(cache);
    assert.equal(folders.length, 1, `one hashed folder: ${folders}`);
    const files = spawnSync('find', [join(cache, folders[0] ?? '')], { encoding: 'utf8' }).stdout;
    assert.match(files, /\.complete/);
    assert.doesNotMatch(files, /\.tmp/, 'no temporary files left');
  });

  it('uses a shared sticky directory without changing it, and skips one anyone may write to', async () => {
    const { chmodSync, statSync } = await import('node:fs');
    const sticky = tempDir('zakadrom-sticky-');
    chmodSync(sticky, 0o1777);
    const r = await run(['doctor'], { ZAKADROM_NATIVE_DIR: sticky });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(statSync(sticky).mode & 0o7777, 0o1777, 'mode left as it was');
    const open = tempDir('zakadrom-open-');
    chmodSync(open, 0o777);
    const home = tempDir('zakadrom-home-');
    const r2 = await run(['doctor'], { ZAKADROM_NATIVE_DIR: open, HOME: home, XDG_CACHE_HOME: '' });
    assert.equal(r2.code, 0, r2.stdout + r2.stderr);
    assert.deepEqual(readdirSync(open), [], 'nothing written where others could replace it');
    assert.equal(statSync(open).mode & 0o7777, 0o777);
  });

  describe('unusable cache directories', () => {
    const mounts: string[] = [];
    function noexecDir(): string | undefined {
      const dir = tempDir('zakadrom-noexec-');
      const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'noexec,size=64m', 'tmpfs', dir], { encoding: 'utf8' });
      if (r.status !== 0) return undefined;
      mounts.push(dir);
      return dir;
    }
    after(() => {
      for (const m of mounts) spawnSync('umount', [m]);
    });

    it('a noexec directory falls back to the next candidate', async (t) => {
      const noexec = noexecDir();
      if (!noexec) return t.skip('cannot mount a noexec tmpfs here (needs root)');
      const home = tempDir('zakadrom-home-');
      const r = await run(['doctor'], { ZAKADROM_NATIVE_DIR: noexec, HOME: home, XDG_CACHE_HOME: '' });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.ok(existsSync(join(home, '.cache/zakadrom')), 'used the next candidate');
    });

    it('when no directory works, the error names each one tried and what to set', async (t) => {
      const noexec = noexecDir();
      if (!noexec) return t.skip('cannot mount a noexec tmpfs here (needs root)');
      const cwd = tempDir('zakadrom-alone-');
      copyFileSync(binary ?? '', join(cwd, 'zakadrom'));
      spawnSync('chmod', ['+x', join(cwd, 'zakadrom')]);
      writeFileSync(join(cwd, '.zakadrom-native'), 'a file where the folder would go');
      const r = await runZakadrom(['doctor'], { ZAKADROM_NATIVE_DIR: noexec, HOME: '/proc/zakadrom-no-home', XDG_CACHE_HOME: '', TMPDIR: noexec }, {
        command: { cmd: join(cwd, 'zakadrom'), args: [] },
        cwd,
      });
      assert.equal(r.code, 1);
      for (const dir of [noexec, '/proc/zakadrom-no-home/.cache/zakadrom', join(cwd, '.zakadrom-native')]) {
        assert.ok(r.stdout.includes(dir), `names ${dir}: ${r.stdout}`);
      }
      assert.match(r.stdout, /ZAKADROM_NATIVE_DIR/);
      const bot = await runZakadrom(['run', '--port', '0', '--db', join(cwd, 'x.db')], { ZAKADROM_NATIVE_DIR: noexec, HOME: '/proc/zakadrom-no-home', XDG_CACHE_HOME: '', TMPDIR: noexec }, {
        command: { cmd: join(cwd, 'zakadrom'), args: [] },
        cwd,
      });
      assert.equal(bot.code, 1, 'the bot refuses to start rather than accept applications it cannot analyse');
      assert.match(bot.stderr, /the image library does not work on this host: .*ZAKADROM_NATIVE_DIR/);
    });
  });

  it('reads no .env or bunfig.toml from the working directory', async () => {
    const cwd = tempDir('zakadrom-env-');
    writeFileSync(join(cwd, '.env'), 'ZAKADROM_LOG_LEVEL=shouting\n');
    writeFileSync(join(cwd, 'bunfig.toml'), 'preload = ["./evil.ts"]\n');
    mkdirSync(join(cwd, 'sub'));
    const r = await run(['status', '--db', join(cwd, 'none.db')], {}, cwd);
    assert.equal(r.code, 1, 'no configuration error: the .env was not read');
    assert.match(r.stderr, /no database at/);
  });

  it('migrates and reports status from an empty folder', async () => {
    const db = join(tempDir(), 'b.db');
    assert.equal((await run(['migrate', '--db', db])).code, 0);
    assert.match((await run(['status', '--db', db])).stdout, /schema 1/);
  });
});

if (binary) {
  corpusSuite('compiled binary', how);
  restartSuite('compiled binary', how);
}
