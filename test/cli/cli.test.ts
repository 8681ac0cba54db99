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
import { isAck, NO_SHARED, SandboxClient, sharedFile } from '../helpers/sandbox-client.ts';

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
    const r = await runZakadrom(
      ['run', '--port', 'eighty', '--max-photo', '5', '--workers', '0', '--vk-api-url', 'http://127.0.0.1:9000', '--colour', 'red', '--dark-mean', '0x10'],
      { ZAKADROM_MAX_DOWNLOAD_MB: '-1', VK_TOKEN: '' },
    );
    assert.equal(r.code, 2);
    for (const name of [
      '--port',
      '--max-photo: unknown option',
      '--workers',
      '--vk-api-url: must end with /method',
      '--colour: unknown option',
      '--dark-mean',
      'ZAKADROM_MAX_DOWNLOAD_MB',
      'VK_TOKEN: is set but empty',
    ]) {
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
    assert.deepEqual(status.applications, { analysing: 0, analysed: 0 });
    assert.deepEqual(status.jobs, { queued: 0, running: 0, done: 0, failed: 0 });
    assert.equal(status.oldestWaiting, null);
    const text = await runZakadrom(['status', '--db', path]);
    assert.match(text.stdout, /applications: analysing 0, analysed 0/);
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
    assert.match(r.stderr, /cannot use the database \/nonexistent\/dir\/z\.db.*--db/);
  });

  it('stops cleanly on SIGTERM, exit code 0', async () => {
    const bot = startZakadrom(['run', '--port', '0', '--db', join(tempDir(), 't.db')]);
    await bot.waitFor(/bot ready/);
    const { code } = await bot.kill('SIGTERM');
    assert.equal(code, 0, bot.stderr());
    assert.match(bot.stderr(), /stopped cleanly/);
  });

  it('refuses a second bot on the same database, naming the first', async () => {
    const db = join(tempDir(), 'one.db');
    const first = startZakadrom(['run', '--port', '0', '--db', db]);
    try {
      await first.waitFor(/bot ready/);
      const second = await runZakadrom(['run', '--port', '0', '--db', db]);
      assert.equal(second.code, 1);
      assert.match(second.stderr, new RegExp(`another zakadrom is using .*one\\.db: pid ${first.proc.pid}.*--db`));
    } finally {
      await first.kill('SIGKILL');
    }
    // After a SIGKILL the database is free again at once (the owner process is gone).
    const third = startZakadrom(['run', '--port', '0', '--db', db]);
    await third.waitFor(/bot ready/);
    await third.kill('SIGTERM');
  });

  it('answers a returning user after the built-in sandbox restarts on the same database', { skip: NO_SHARED }, async () => {
    const db = join(tempDir(), 'again.db');
    for (let run = 0; run < 2; run += 1) {
      const bot = startZakadrom(['run', '--port', '0', '--db', db]);
      try {
        const [, url] = await bot.waitFor(/^sandbox: (http:\/\/127\.0\.0\.1:\d+)$/m);
        await bot.waitFor(/bot ready/);
        const sandbox = new SandboxClient(url ?? '');
        const { peer_id } = await sandbox.sendPhotos(100001, [sharedFile('cases/img/base.jpg')]);
        const bot1 = await sandbox.waitForBot(peer_id, (m) => m.some(isAck), 20_000);
        assert.equal(bot1.filter(isAck).length, 1, `run ${run}`);
      } finally {
        await bot.kill('SIGTERM');
      }
    }
  });

  it('rides out VK trouble at start, and stops with what to do when the token is refused', async () => {
    const emulator = startZakadrom(['sandbox', '--port', '0']);
    try {
      const [, url] = await emulator.waitFor(/^sandbox: (http:\/\/127\.0\.0\.1:\d+)$/m);
      const sandbox = new SandboxClient(url ?? '');
      const env = { VK_TOKEN: 'start-test-token', VK_GROUP_ID: '1', VK_API_URL: `${url}/method` };
      await sandbox.fault({ method: 'groups.getLongPollServer', http_status: 502, count: 2 });
      const bot = startZakadrom(['run', '--db', join(tempDir(), 'v.db')], env);
      await bot.waitFor(/bot ready/, 30_000);
      assert.match(bot.stderr(), /cannot reach VK yet; retrying/);
      await bot.kill('SIGTERM');
      await sandbox.fault({ method: 'groups.getLongPollServer', error_code: 5, count: 1 });
      const refused = await runZakadrom(['run', '--db', join(tempDir(), 'w.db')], env);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /VK error 5.*check VK_TOKEN/);
      assert.ok(!refused.stderr.includes('start-test-token'));
    } finally {
      await emulator.kill('SIGTERM');
    }
  });
});
