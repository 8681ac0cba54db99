// Operating the bot: a graceful stop with work in flight, and the database held by an outside
// reader (a long read transaction) or writer (a lock longer than the busy timeout).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../helpers/db.ts';
import { startZakadrom, type Running } from '../helpers/processes.ts';
import { isAck, isResult, NO_SHARED, SandboxClient, sharedFile } from '../helpers/sandbox-client.ts';

const HAVE_SQLITE3 = spawnSync('sqlite3', ['-version']).status === 0;

describe('operating a running bot', { skip: NO_SHARED }, () => {
  let emulator: Running;
  let sandbox: SandboxClient;
  let user = 800_000;

  before(async () => {
    emulator = startZakadrom(['sandbox', '--port', '0']);
    const [, url] = await emulator.waitFor(/^sandbox: (http:\/\/127\.0\.0\.1:\d+)$/m);
    sandbox = new SandboxClient(url ?? '');
  });
  after(async () => {
    await emulator?.kill('SIGTERM');
  });

  function bot(db: string): Running {
    return startZakadrom(['run', '--db', db], { VK_TOKEN: 'ops-token', VK_GROUP_ID: '1', VK_API_URL: `${sandbox.baseUrl}/method` });
  }

  async function apply(photos: Buffer[]): Promise<number> {
    user += 1;
    return (await sandbox.sendPhotos(user, photos)).peer_id;
  }

  async function answeredOnce(peers: number[]): Promise<void> {
    for (const peer of peers) await sandbox.waitForBot(peer, (m) => m.some(isResult), 60_000);
    await new Promise((r) => setTimeout(r, 500));
    for (const peer of peers) {
      const m = await sandbox.botMessages(peer);
      assert.deepEqual([m.filter(isAck).length, m.filter(isResult).length, m.length], [1, 1, 2], `peer ${peer}`);
    }
  }

  it('SIGTERM with work in flight: exits 0 within the deadline, WAL checkpointed, nothing lost', async () => {
    const db = join(tempDir(), 'graceful.db');
    const first = bot(db);
    await first.waitFor(/bot ready/);
    const phone = sharedFile('corpus/photos/phone_iphone_hdr_NO.jpg');
    const peers = [];
    for (let i = 0; i < 4; i += 1) peers.push(await apply([phone, phone]));
    for (const peer of peers) await sandbox.waitForBot(peer, (m) => m.some(isAck), 20_000);
    const started = Date.now();
    const { code } = await first.kill('SIGTERM');
    assert.equal(code, 0, first.stderr().slice(-2000));
    assert.ok(Date.now() - started < 15_000, 'within the shutdown deadline');
    assert.match(first.stderr(), /stopped cleanly/);
    assert.ok(!existsSync(`${db}-wal`) || statSync(`${db}-wal`).size === 0, 'the WAL was checkpointed into the database');
    const second = bot(db);
    try {
      await answeredOnce(peers);
    } finally {
      await second.kill('SIGTERM');
    }
  });

  it('after VK lost the events of a downtime (failed 3), catches up through unanswered conversations', async () => {
    const db = join(tempDir(), 'gap.db');
    const first = bot(db);
    await first.waitFor(/bot ready/);
    const before = await apply([sharedFile('corpus/photos/cam_Nikon_D70.jpg')]);
    await sandbox.waitForBot(before, (m) => m.some(isResult), 30_000);
    await first.kill('SIGKILL');
    const during = await apply([sharedFile('corpus/photos/cam_Pentax_K10D.jpg')]);
    await sandbox.fault({ longpoll: { failed: 3 }, count: 1 });
    const second = bot(db);
    try {
      await answeredOnce([before, during]);
      assert.match(second.stderr(), /catching up on messages the long poll lost/);
    } finally {
      await second.kill('SIGTERM');
    }
  });

  it('takes in a burst of 1000 updates without making an application wait behind the chatter', async () => {
    const db = join(tempDir(), 'burst.db');
    const first = bot(db);
    await first.waitFor(/bot ready/);
    await first.kill('SIGKILL');
    // While the bot is down, 1000 people write something; then one applies.
    const chatter: Promise<unknown>[] = [];
    for (let i = 0; i < 1000; i += 1) {
      chatter.push(sandbox.send({ from_id: 1_000_000 + i, text: `привет ${i}` }));
      if (chatter.length >= 50) await Promise.all(chatter.splice(0));
    }
    await Promise.all(chatter);
    const applicant = await apply([sharedFile('corpus/photos/cam_Canon_40D.jpg')]);
    const second = bot(db);
    try {
      await sandbox.waitForBot(applicant, (m) => m.some(isAck), 60_000);
      const hintsSent = (await sandbox.calls('messages.send')).filter((c) => Number(c.params.peer_id) >= 1_000_000).length;
      assert.ok(hintsSent < 500, `the acknowledgement went out after ${hintsSent} of 1000 hints, not behind all of them`);
      await answeredOnce([applicant]);
    } finally {
      await second.kill('SIGTERM');
    }
  });

  it('keeps going while an outside reader holds a long read transaction and a writer holds the lock', { skip: HAVE_SQLITE3 ? false : 'no sqlite3 command here' }, async () => {
    const db = join(tempDir(), 'shared.db');
    const running = bot(db);
    await running.waitFor(/bot ready/);
    const small = sharedFile('corpus/photos/gps_DSCN0021.jpg');
    const cli = spawn('sqlite3', [db], { stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      cli.stdin.write('BEGIN;\nSELECT COUNT(*) FROM applications;\n');
      const whileReading = [await apply([small]), await apply([small])];
      await answeredOnce(whileReading);
      // Now a writer: the lock is held longer than the bot's 5 s busy timeout.
      cli.stdin.write("COMMIT;\nBEGIN IMMEDIATE;\nINSERT INTO bot_state (key, value, updated_at) VALUES ('outside', 'x', 0);\n");
      await new Promise((r) => setTimeout(r, 300));
      const whileLocked = [await apply([small]), await apply([small])];
      await new Promise((r) => setTimeout(r, 7000));
      cli.stdin.write('COMMIT;\n.quit\n');
      await answeredOnce(whileLocked);
      assert.equal(running.proc.exitCode, null, 'the bot is still running');
    } finally {
      cli.kill();
      await running.kill('SIGTERM');
    }
  });
});

describe('a full disk', { skip: NO_SHARED }, () => {
  const mountPoint = tempDir('zakadrom-full-');
  let mounted = false;
  let emulator: Running | undefined;

  before(() => {
    mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint]).status === 0;
  });
  after(async () => {
    await emulator?.kill('SIGTERM');
    if (mounted) spawnSync('umount', ['-l', mountPoint]);
  });

  it('gets a clear error, no corruption, and work resumes when space returns', async (t) => {
    if (!mounted) return t.skip('cannot mount a small tmpfs here (needs root)');
    emulator = startZakadrom(['sandbox', '--port', '0']);
    const [, url] = await emulator.waitFor(/^sandbox: (http:\/\/127\.0\.0\.1:\d+)$/m);
    const sandbox = new SandboxClient(url ?? '');
    const db = join(mountPoint, 'full.db');
    const running = startZakadrom(['run', '--db', db], { VK_TOKEN: 'disk-token', VK_GROUP_ID: '1', VK_API_URL: `${url}/method` });
    try {
      await running.waitFor(/bot ready/);
      // Fill the file system to the last block.
      spawnSync('sh', ['-c', `dd if=/dev/zero of=${join(mountPoint, 'filler')} bs=4k 2>/dev/null; sync`]);
      const photo = sharedFile('corpus/photos/gps_DSCN0025.jpg');
      const peers: number[] = [];
      for (let i = 0; i < 6; i += 1) peers.push((await sandbox.sendPhotos(900_001 + i, [photo])).peer_id);
      await running.waitFor(/SQLITE_FULL|database or disk is full/, 20_000);
      assert.equal(running.proc.exitCode, null, 'the bot keeps running on a full disk');
      spawnSync('rm', ['-f', join(mountPoint, 'filler')]);
      for (const peer of peers) await sandbox.waitForBot(peer, (m) => m.some(isResult), 60_000);
      await new Promise((r) => setTimeout(r, 500));
      for (const peer of peers) {
        const m = await sandbox.botMessages(peer);
        assert.deepEqual([m.filter(isAck).length, m.filter(isResult).length], [1, 1], `peer ${peer}`);
      }
    } finally {
      await running.kill('SIGTERM');
    }
    const check = spawnSync('sqlite3', [db, 'PRAGMA integrity_check;'], { encoding: 'utf8' });
    if (check.status === 0) assert.equal(check.stdout.trim(), 'ok');
  });
});
