// Restart safety: the emulator runs alone, the bot is a child process killed with SIGKILL while
// applications are in flight, and restarted on the same database, several times.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '../../src/db/driver.ts';
import { tempDir } from '../helpers/db.ts';
import { startZakadrom, type Running, type StartOptions } from '../helpers/processes.ts';
import { isAck, isResult, NO_SHARED, SandboxClient, sharedFile } from '../helpers/sandbox-client.ts';

const KILLS = 4;
const USERS = 6;

/** The suite, run against the sources or against the compiled binary. */
export function restartSuite(label: string, how: StartOptions = {}): void {
  describe(`SIGKILL while applications are in flight, then restart (${label})`, { skip: NO_SHARED }, () => {
    let emulator: Running;
    let sandbox: SandboxClient;
    let bot: Running | undefined;
    const dir = tempDir();
    const dbPath = join(dir, 'restart.db');
    const applications: { peer: number; photos: number }[] = [];

    const bots: Running[] = [];
    const TOKEN = 'test-token-not-secret';

    function startBot(): Running {
      const started = startZakadrom(['run', '--db', dbPath], {
        VK_TOKEN: TOKEN,
        VK_GROUP_ID: '1',
        VK_API_URL: `${sandbox.baseUrl}/method`,
        ZAKADROM_WORKERS: '2',
        ZAKADROM_RETRY_BASE_MS: '100',
        ZAKADROM_JOB_ATTEMPTS: '10',
        ZAKADROM_LOG_LEVEL: 'debug',
      }, how);
      bots.push(started);
      return started;
    }

    before(async () => {
      emulator = startZakadrom(['sandbox', '--port', '0'], {}, how);
      const [, url] = await emulator.waitFor(/^sandbox: (http:\/\/127\.0\.0\.1:\d+)$/m);
      sandbox = new SandboxClient(url ?? '');
    });

    after(async () => {
      await bot?.kill('SIGKILL');
      await emulator?.kill('SIGTERM');
    });

    it('answers every application exactly once, those sent while it was down too', async () => {
      const big = [sharedFile('corpus/photos/phone_iphone_hdr_NO.jpg'), sharedFile('corpus/photos/phone_jolla.jpg')];
      const small = [sharedFile('corpus/photos/gps_DSCN0010.jpg'), sharedFile('corpus/photos/cam_Nikon_D70.jpg')];
      let user = 300_000;
      let unansweredAtKills = 0;
      for (let round = 0; round <= KILLS; round += 1) {
        bot = startBot();
        await bot.waitFor(/bot ready/, 60_000);
        // A few applications per round, each acknowledged before the kill (intake is committed).
        const sent: number[] = [];
        for (let i = 0; i < USERS / 2 + 1; i += 1) {
          user += 1;
          // Mostly 8 MP photos, so that analysis is still running when the kill comes.
          const photos = i % 2 === 0 ? [big[0] as Buffer, big[1] as Buffer, small[0] as Buffer] : [big[1] as Buffer, small[1] as Buffer];
          const s = await sandbox.sendPhotos(user, photos);
          applications.push({ peer: s.peer_id, photos: photos.length });
          sent.push(s.peer_id);
        }
        if (round < KILLS) {
          await Promise.all(sent.map((peer) => sandbox.waitForBot(peer, (m) => m.some(isAck), 30_000)));
          // Kill at a random moment while the 8 MP photos are being analysed or sent.
          await new Promise((r) => setTimeout(r, Math.random() * 80));
          const { signal } = await bot.kill('SIGKILL');
          assert.equal(signal, 'SIGKILL');
          // Users keep writing while the bot is down: the long poll resumes from its saved position.
          for (let i = 0; i < 2; i += 1) {
            user += 1;
            const s = await sandbox.sendPhotos(user, [small[i] as Buffer]);
            applications.push({ peer: s.peer_id, photos: 1 });
          }
          for (const app of applications) {
            if (!(await sandbox.botMessages(app.peer)).some(isResult)) unansweredAtKills += 1;
          }
        }
      }
      for (const app of applications) {
        await sandbox.waitForBot(app.peer, (m) => m.some(isResult), 120_000);
      }
      // Let any stray duplicate arrive before counting.
      await new Promise((r) => setTimeout(r, 1000));
      for (const app of applications) {
        const bot = await sandbox.botMessages(app.peer);
        assert.equal(bot.filter(isAck).length, 1, `peer ${app.peer}: one acknowledgement, got ${JSON.stringify(bot.map((m) => m.text))}`);
        assert.equal(bot.filter(isResult).length, 1, `peer ${app.peer}: one result`);
        assert.equal(bot.length, 2, `peer ${app.peer}: nothing else`);
      }
      // The test means something only if kills hit work in flight.
      console.log(`restart test: ${KILLS} kills, ${applications.length} applications, ${unansweredAtKills} unanswered at the kills`);
      assert.ok(unansweredAtKills >= KILLS, `kills must land while applications are in flight (${unansweredAtKills})`);
      await bot?.kill('SIGTERM');
      for (const b of bots) assert.ok(!(b.stdout() + b.stderr()).includes(TOKEN), 'the token never appears in the output');
      const db = openDatabase(dbPath, { busyTimeoutMs: 5000, readonly: true });
      try {
        const count = (sql: string) => db.prepare(sql).get<{ n: number }>()?.n;
        assert.equal(count('SELECT COUNT(*) AS n FROM applications'), applications.length);
        assert.equal(count(`SELECT COUNT(*) AS n FROM applications WHERE state <> 'analysed'`), 0);
        assert.equal(count(`SELECT COUNT(*) AS n FROM jobs WHERE state IN ('queued', 'running')`), 0, 'no job stuck');
        assert.equal(count(`SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'`), 0, 'nothing left unsent');
        assert.equal(
          count(`SELECT COUNT(*) AS n FROM photos`),
          applications.reduce((n, a) => n + a.photos, 0),
        );
      } finally {
        db.close();
      }
    });
  });
}
