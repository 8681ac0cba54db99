// The same sources on Deno (node:sqlite, tinypool without Atomics): one application through
// the sandbox, acknowledged and answered.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../helpers/db.ts';
import { ROOT, runZakadrom, startZakadrom, type Running } from '../helpers/processes.ts';
import { isAck, isResult, NO_SHARED, SandboxClient, sharedFile } from '../helpers/sandbox-client.ts';

const DENO = join(ROOT, 'node_modules/.bin/deno');
const skip = !existsSync(DENO) ? `no deno at ${DENO}: run npm install` : NO_SHARED;

describe('Deno runs the sources', { skip }, () => {
  let bot: Running | undefined;
  after(async () => {
    await bot?.kill('SIGKILL');
  });

  it('doctor: node:sqlite and the image library in a worker', async () => {
    const r = await runZakadrom(['doctor', '--db', join(tempDir(), 'none.db')], {}, {
      command: { cmd: DENO, args: ['run', '-A', '--node-modules-dir=manual', join(ROOT, 'src/main.ts')] },
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /ok +sqlite: node:sqlite/);
  });

  it('takes one application through the sandbox', async () => {
    bot = startZakadrom(['run', '--port', '0', '--db', join(tempDir(), 'deno.db')], {}, {
      command: { cmd: DENO, args: ['run', '-A', '--node-modules-dir=manual', join(ROOT, 'src/main.ts')] },
    });
    const [, url] = await bot.waitFor(/^sandbox: (http:\/\/127\.0\.0\.1:\d+)$/m, 60_000);
    await bot.waitFor(/bot ready/, 60_000);
    const sandbox = new SandboxClient(url ?? '');
    const { peer_id } = await sandbox.sendPhotos(100001, [sharedFile('corpus/photos/gps_DSCN0012.jpg')]);
    const messages = await sandbox.waitForBot(peer_id, (m) => m.some(isResult), 60_000);
    assert.equal(messages.filter(isAck).length, 1);
    assert.match(messages.find(isResult)?.text ?? '', /640×480.*геометка/s);
    assert.match(bot.stderr(), /"msg":"database migrated"/);
  });
});
