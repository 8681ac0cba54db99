// The command line as a user meets it: version, help, bad settings, status, refusals.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openDatabase } from '../../src/db/driver.ts';
import { loadMigrationFiles } from '../../src/db/migration-files.ts';
import { migrate, parseMigrations } from '../../src/db/migrate.ts';
import { VERSION } from '../../src/version.ts';
import { tempDir } from '../helpers/db.ts';
import { ROOT, runZakadrom, startZakadrom } from '../helpers/processes.ts';

describe('zakadrom command line', () => {
  it('--version prints the version of package.json', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(VERSION, pkg.version);
    const r = await runZakadrom(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), `zakadrom ${pkg.version}`);
  });

  it('--help lists the commands and every setting with its environment variable', async () => {
    const r = await runZakadrom(['--help']);
    assert.equal(r.code, 0);
    for (const word of ['run', 'sandbox', 'status', '--db / ZAKADROM_DB', '--port / ZAKADROM_SANDBOX_PORT', 'VK_TOKEN', '--vk-api-url / VK_API_URL']) {
      assert.ok(r.stdout.includes(word), `help mentions ${word}`);
    }
  });

  it('reports every bad setting at once, by name, and exits 2', async () => {
    const r = await runZakadrom(['run', '--port', 'eighty', '--workers', '0', '--vk-api-url', 'ftp://x', '--colour', 'red'], {
      ZAKADROM_MAX_DOWNLOAD_MB: '-1',
    });
    assert.equal(r.code, 2);
    for (const name of ['--port', '--workers', '--vk-api-url', '--colour: unknown option', 'ZAKADROM_MAX_DOWNLOAD_MB']) {
      assert.ok(r.stderr.includes(name), `mentions ${name}: ${r.stderr}`);
    }
  });

  it('rejects an unknown command with the list of commands', async () => {
    const r = await runZakadrom(['serve']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "serve".*run, sandbox, status/);
  });

  it('status explains a missing database', async () => {
    const db = join(tempDir(), 'none.db');
    const r = await runZakadrom(['status', '--db', db]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no database at .*none\.db/);
  });

  it('status --json reads a database (also while it is empty)', async () => {
    const path = join(tempDir(), 's.db');
    assert.equal((await runZakadrom(['migrate', '--db', path])).code, 0);
    const r = await runZakadrom(['status', '--json', '--db', path]);
    assert.equal(r.code, 0, r.stderr);
    const status = JSON.parse(r.stdout);
    assert.deepEqual(status.applications, { analysing: 0, answered: 0 });
    assert.deepEqual(status.jobs, { queued: 0, running: 0, done: 0, failed: 0 });
    assert.equal(status.oldestWaiting, null);
    const text = await runZakadrom(['status', '--db', path]);
    assert.match(text.stdout, /applications: analysing 0, answered 0/);
  });

  it('refuses to start on a database from a newer zakadrom, and says what to do', async () => {
    const path = join(tempDir(), 'newer.db');
    const db = openDatabase(path, { busyTimeoutMs: 1000 });
    migrate(db, parseMigrations(loadMigrationFiles()), 0);
    db.prepare(`INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (99, '0099_future.sql', 'x', 0)`).run();
    db.close();
    const r = await runZakadrom(['run', '--port', '0', '--db', path]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /schema version 99.*newer zakadrom/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('explains a sandbox port that is taken', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await runZakadrom(['run', '--port', String(port), '--db', join(tempDir(), 'p.db')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use.*--port`));
    } finally {
      server.close();
    }
  });

  it('explains a database folder that does not exist', async () => {
    const r = await runZakadrom(['run', '--port', '0', '--db', '/nonexistent/dir/z.db']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot open the database \/nonexistent\/dir\/z\.db.*--db/);
  });

  it('stops cleanly on SIGTERM, exit code 0', async () => {
    const bot = startZakadrom(['run', '--port', '0', '--db', join(tempDir(), 't.db')]);
    await bot.waitFor(/bot ready/);
    const { code } = await bot.kill('SIGTERM');
    assert.equal(code, 0, bot.stderr());
    assert.match(bot.stderr(), /stopped cleanly/);
  });
});
