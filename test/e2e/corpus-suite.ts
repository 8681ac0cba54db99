// The whole pipeline on every real photo of the corpus: sandbox -> vk-io -> SQLite -> workers
// -> outbox -> sandbox, checked as the user sees the conversation.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../helpers/db.ts';
import { startZakadrom, type Running, type StartOptions } from '../helpers/processes.ts';
import { HAVE_SHARED, isAck, isResult, NO_SHARED, SandboxClient, SHARED, sharedFile } from '../helpers/sandbox-client.ts';

const photos = HAVE_SHARED ? readdirSync(SHARED + 'corpus/photos').sort() : [];

/** The suite, run against the sources or against the compiled binary. */
export function corpusSuite(label: string, how: StartOptions = {}): void {
  describe(`every corpus photo through the whole pipeline (${label})`, { skip: NO_SHARED }, () => {
    let bot: Running;
    let sandbox: SandboxClient;
    const results = new Map<string, string>();

    before(async () => {
      const dir = tempDir();
      bot = startZakadrom(['run', '--port', '0', '--db', join(dir, 'corpus.db')], {
        VK_TOKEN: undefined,
        ZAKADROM_WORKERS: '2',
        ZAKADROM_RETRY_BASE_MS: '100',
        ZAKADROM_JOB_ATTEMPTS: '3',
      }, how);
      const [, url] = await bot.waitFor(/^sandbox: (http:\/\/127\.0\.0\.1:\d+)$/m);
      sandbox = new SandboxClient(url ?? '');
      await bot.waitFor(/bot ready/);
      // One user per photo: each conversation must show exactly one acknowledgement and one result.
      const sent = await Promise.all(photos.map((name, i) => sandbox.sendPhotos(200_001 + i, [sharedFile('corpus/photos/' + name)])));
      await Promise.all(
        sent.map(async (s, i) => {
          const bot = await sandbox.waitForBot(s.peer_id, (m) => m.some(isResult), 180_000);
          results.set(photos[i] ?? '', bot.find(isResult)?.text ?? '');
        }),
      );
    });

    after(async () => {
      await bot?.kill('SIGTERM');
    });

    it('gives every photo exactly one acknowledgement and one result, in that order', async () => {
      for (const [i, name] of photos.entries()) {
        const bot = await sandbox.botMessages(200_001 + i);
        assert.equal(bot.length, 2, `${name}: ${JSON.stringify(bot.map((m) => m.text))}`);
        assert.ok(bot[0] && isAck(bot[0]), `${name}: first the acknowledgement`);
        assert.ok(bot[1] && isResult(bot[1]), `${name}: then the result`);
      }
    });

    it('never shows a stack trace, NaN or undefined to the user', () => {
      for (const [name, text] of results) {
        assert.doesNotMatch(text, /NaN|undefined|Error:|at \w+ \(|\{\w+\}/, name);
      }
    });

    it('reports the upright size of every orient_* photo (EXIF orientation applied)', () => {
      const orient = [...results].filter(([n]) => n.startsWith('orient_'));
      assert.equal(orient.length, 9);
      for (const [name, text] of orient) assert.match(text, /1800×1200/, name);
    });

    it('flags the GPS location of every gps_* photo, and not of photos without one', () => {
      for (const [name, text] of results) {
        if (name.startsWith('gps_')) assert.match(text, /геометка/, name);
        if (name.startsWith('orient_') || name.startsWith('phone_jolla')) assert.doesNotMatch(text, /геометка/, name);
      }
    });

    it('analyses cameras, phones, TIFF and XMP photos', () => {
      for (const [name, text] of results) {
        if (/^(cam_|gps_|phone_|orient_|xmp_|tiff_)/.test(name)) assert.match(text, /Итог:/, name);
      }
      assert.match(results.get('tiff_BSG1.tiff') ?? '', /TIFF/);
      assert.match(results.get('cam_Canon_40D.jpg') ?? '', /камера Canon/);
    });

    it('gives invalid and HEIF files a findings or a clear reason with a hint', () => {
      for (const [name, text] of results) {
        if (name.startsWith('invalid_') || name.startsWith('heif_')) assert.match(text, /Итог:|не удалось проверить: .+\. .+/, name);
      }
      assert.match(results.get('heif_samplefilehub.heif') ?? '', /не поддерживается.*(JPEG|фотографию)/s);
    });

    it('recognises the same scene sent again as already submitted', () => {
      const dupes = [...results].filter(([n, t]) => n.startsWith('orient_') && /уже присылали/.test(t));
      assert.equal(dupes.length, 8, 'the first of the nine orient_* photos is new, the other eight repeat it');
    });
  });
}
