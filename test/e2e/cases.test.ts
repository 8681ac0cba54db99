// Each hostile or awkward file of ../shared/cases through the whole pipeline, with the answer
// the user must get (the behaviour column of cases/README.md), as the user sees it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '../../src/db/driver.ts';
import { tempDir } from '../helpers/db.ts';
import { startZakadrom, type Running } from '../helpers/processes.ts';
import { isAck, isResult, NO_SHARED, SandboxClient, sharedFile } from '../helpers/sandbox-client.ts';

interface Case {
  file: string;
  /** Sent as a document (a file) rather than as a photo. */
  asDoc?: boolean;
  expect: RegExp;
  reason?: string;
}

const CASES: Case[] = [
  { file: 'orient6.jpg', expect: /427×640/ },
  { file: 'cmyk_adobe.jpg', expect: /640×427.*Итог:/s },
  { file: 'gray_1ch.jpg', expect: /640×427.*Итог:/s },
  { file: 'rgb16.png', expect: /128×128.*PNG.*Итог:/s },
  { file: 'alpha_hidden_black.png', expect: /64×64.*Итог:/s },
  { file: 'anim.gif', asDoc: true, expect: /анимация из 3 кадров.*Итог:/s },
  { file: 'truncated_55pct.jpg', expect: /повреждён.*ещё раз/s, reason: 'corrupt' },
  { file: 'bomb_50000x50000.png', expect: /слишком большое/, reason: 'too_large' },
  { file: 'iphone_like.heic', asDoc: true, expect: /не поддерживается.*JPEG/s, reason: 'unsupported_format' },
  { file: 'svg_xxe_entity.svg', asDoc: true, expect: /не поддерживается/, reason: 'unsupported_format' },
  { file: 'bmp_named.jpg', expect: /не поддерживается \(BMP\)/, reason: 'unsupported_format' },
  { file: 'empty.jpg', expect: /не удалось загрузить/, reason: 'download_failed' },
  { file: 'pixel_1x1.png', expect: /слишком маленькое/, reason: 'too_small' },
  { file: 'bad_exif_offset.jpg', expect: /48×32.*Итог:/s },
  { file: 'base.jpg', expect: /640×427.*Итог:/s },
  { file: 'smoke_8x8.png', expect: /8×8.*Итог:/s },
];

describe('hostile and awkward files get the answer they deserve', { skip: NO_SHARED }, () => {
  let bot: Running;
  let sandbox: SandboxClient;
  const dbPath = join(tempDir(), 'cases.db');
  const results = new Map<string, string>();

  before(async () => {
    bot = startZakadrom(['run', '--port', '0', '--db', dbPath], {
      VK_TOKEN: undefined,
      ZAKADROM_RETRY_BASE_MS: '50',
      ZAKADROM_JOB_ATTEMPTS: '3',
    });
    const [, url] = await bot.waitFor(/^sandbox: (http:\/\/127\.0\.0\.1:\d+)$/m);
    sandbox = new SandboxClient(url ?? '');
    await bot.waitFor(/bot ready/);
    await Promise.all(
      CASES.map(async (c, i) => {
        const bytes = sharedFile('cases/img/' + c.file).toString('base64');
        const from = 400_001 + i;
        await sandbox.send(
          c.asDoc
            ? { from_id: from, text: 'подать заявку', docs: [{ title: c.file, base64: bytes }] }
            : { from_id: from, text: 'подать заявку', photos: [bytes] },
        );
        const messages = await sandbox.waitForBot(from, (m) => m.some(isResult), 60_000);
        results.set(c.file, messages.find(isResult)?.text ?? '');
        assert.equal(messages.filter(isAck).length, 1);
      }),
    );
  });

  after(async () => {
    await bot?.kill('SIGTERM');
  });

  for (const c of CASES) {
    it(`${c.file}: ${c.reason ?? 'analysed'}`, () => {
      assert.match(results.get(c.file) ?? '', c.expect);
    });
  }

  it('stores the machine-readable reason of every failure, and never NaN', () => {
    const db = openDatabase(dbPath, { busyTimeoutMs: 5000, readonly: true });
    try {
      const rows = db
        .prepare(
          `SELECT p.failure_reason, p.mean_luma, p.sharpness, a.from_id FROM photos p JOIN applications a ON a.id = p.application_id`,
        )
        .all<{ failure_reason: string | null; mean_luma: number | null; sharpness: number | null; from_id: number }>();
      for (const [i, c] of CASES.entries()) {
        const row = rows.find((r) => r.from_id === 400_001 + i);
        assert.ok(row, c.file);
        assert.equal(row.failure_reason, c.reason ?? null, c.file);
        if (!c.reason) {
          assert.ok(Number.isFinite(row.mean_luma) && Number.isFinite(row.sharpness), `${c.file}: finite metrics`);
        }
      }
      const retried = db.prepare(`SELECT attempts FROM jobs WHERE last_error LIKE '%empty%'`).get<{ attempts: number }>();
      assert.equal(retried?.attempts, 3, 'an empty download is retried as a download failure, not judged as a bad photo');
    } finally {
      db.close();
    }
  });
});
