// The analysis as the app gets it: real tinypool threads running sharp on the shared hostile cases and the real corpus.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { phashDistance } from '../../src/analysis/metrics.ts';
import { AnalysisPoolError, createAnalysisPool } from '../../src/analysis/pool.ts';
import type { AnalysisPool } from '../../src/analysis/pool.ts';
import type { AnalysisOptions, AnalysisOutcome, PhotoMetrics } from '../../src/analysis/types.ts';
import {
  caseFile,
  corpusFile,
  corpusNames,
  encodePng,
  markerScene,
  orientationTiff,
  sharedSkipReason,
  storedForOrientation,
  withExifSegment,
  TEST_OPTIONS as OPTIONS,
} from './fixtures.ts';


const SLOW = { timeout: 120_000 };
const skipShared = sharedSkipReason();
const shared = { ...SLOW, skip: skipShared };

function metricsOf(outcome: AnalysisOutcome, label: string): PhotoMetrics {
  if (!outcome.ok) assert.fail(`${label}: expected metrics, got ${outcome.reason}: ${outcome.detail}`);
  return outcome.metrics;
}

function assertSane(m: PhotoMetrics, label: string): void {
  for (const [k, v] of Object.entries(m)) {
    if (typeof v === 'number') assert.ok(Number.isFinite(v), `${label}: ${k} is ${v}`);
  }
  assert.ok(m.width > 0 && m.height > 0, `${label}: size ${m.width}x${m.height}`);
  assert.ok(m.meanLuma >= 0 && m.meanLuma <= 255, `${label}: meanLuma ${m.meanLuma}`);
  assert.ok(m.lumaStdDev >= 0 && m.sharpness >= 0, label);
  for (const share of [m.brightClipShare, m.darkClipShare]) assert.ok(share >= 0 && share <= 1, `${label}: share ${share}`);
  assert.ok(m.phash === null || /^[0-9a-f]{16}$/.test(m.phash), `${label}: phash ${m.phash}`);
  assert.ok(m.exif.takenAt === null || /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(m.exif.takenAt), `${label}: takenAt ${m.exif.takenAt}`);
}

/** Everything the pixels decide; `bytes` differs between two encodings of the same picture. */
function pixelFacts(m: PhotoMetrics): Omit<PhotoMetrics, 'bytes' | 'exif' | 'orientation'> {
  const { bytes: _b, exif: _e, orientation: _o, ...rest } = m;
  return rest;
}

describe('analysis worker through the pool', () => {
  let pool: AnalysisPool;
  const analyse = (bytes: Uint8Array, options: Partial<AnalysisOptions> = {}): Promise<AnalysisOutcome> =>
    pool.analyse(bytes, { ...OPTIONS, ...options });

  before(() => {
    if (skipShared) console.log(`analysis worker tests on shared files skipped: ${skipShared}`);
    pool = createAnalysisPool({ threads: 2, taskTimeoutMs: 60_000 });
  });
  after(async () => {
    await pool.close();
  });

  describe('hostile cases (cases/img)', () => {
    it('base.jpg analyses with sane metrics', shared, async () => {
      const m = metricsOf(await analyse(caseFile('base.jpg')), 'base');
      assertSane(m, 'base');
      assert.equal(m.format, 'jpeg');
      assert.equal(m.width, 640);
      assert.equal(m.height, 427);
      assert.equal(m.sourceSpace, 'srgb');
      assert.equal(typeof m.phash, 'string');
    });

    it('smoke_8x8.png analyses (start-up self-test image)', shared, async () => {
      const m = metricsOf(await analyse(caseFile('smoke_8x8.png'), { minSide: 1 }), 'smoke');
      assertSane(m, 'smoke');
      assert.deepEqual([m.format, m.width, m.height], ['png', 8, 8]);
    });

    it('orient6.jpg reports the upright size: same pixels as base.jpg, turned', shared, async () => {
      const base = metricsOf(await analyse(caseFile('base.jpg')), 'base');
      const o6 = metricsOf(await analyse(caseFile('orient6.jpg')), 'orient6');
      assert.deepEqual([o6.width, o6.height, o6.orientation], [427, 640, 6]);
      assert.equal(o6.meanLuma, base.meanLuma);
      assert.notEqual(o6.phash, base.phash, 'a quarter turn is a different picture');
    });

    it('shipped orient markers: the upright size follows each tag', shared, async () => {
      // These eight files hold the SAME stored pixels and differ only in the tag byte, so once
      // upright they are eight different pictures (see the report: the cases README expects them
      // to be equal, which only a reader that ignores the tag would produce).
      const ms: PhotoMetrics[] = [];
      for (let o = 1; o <= 8; o++) ms.push(metricsOf(await analyse(caseFile(`orient/marker_o${o}.jpg`)), `o${o}`));
      ms.forEach((m, i) => {
        assert.equal(m.orientation, i + 1);
        assert.deepEqual([m.width, m.height], i + 1 >= 5 ? [32, 48] : [48, 32], `marker_o${i + 1}`);
        assert.equal(m.meanLuma, ms[0]!.meanLuma);
      });
      assert.ok(phashDistance(ms[0]!.phash!, ms[2]!.phash!) > 10, 'o3 is o1 turned by 180 degrees');
    });

    it('the same upright picture stored under each of the 8 orientations gives one size and one hash (PNG, exact)', async () => {
      const W = 96;
      const H = 64;
      const upright = markerScene(W, H);
      const results: PhotoMetrics[] = [];
      for (let o = 1; o <= 8; o++) {
        const s = storedForOrientation(upright, W, H, o);
        const png = encodePng(s.width, s.height, 3, s.pixels, { exif: orientationTiff(o) });
        results.push(metricsOf(await analyse(png), `png o${o}`));
      }
      assert.equal(typeof results[0]!.phash, 'string');
      results.forEach((m, i) => {
        assert.equal(m.orientation, i + 1, 'the eXIf orientation was read');
        assert.deepEqual(pixelFacts(m), pixelFacts(results[0]!), `orientation ${i + 1}`);
      });
    });

    it('the same holds for JPEGs with an EXIF APP1 orientation (hash within 4 bits)', SLOW, async () => {
      const W = 192;
      const H = 128;
      const upright = markerScene(W, H);
      const results: PhotoMetrics[] = [];
      for (let o = 1; o <= 8; o++) {
        const s = storedForOrientation(upright, W, H, o);
        // The pool's own resize turns the PNG into a plain JPEG (no metadata); then the tag goes in.
        const jpeg = await pool.resize(encodePng(s.width, s.height, 3, s.pixels), 4096, 4096, OPTIONS.maxPixels);
        results.push(metricsOf(await analyse(withExifSegment(jpeg, orientationTiff(o))), `jpeg o${o}`));
      }
      for (const [i, m] of results.entries()) {
        assert.equal(m.orientation, i + 1);
        assert.deepEqual([m.width, m.height], [W, H], `orientation ${i + 1}`);
        assert.ok(phashDistance(m.phash!, results[0]!.phash!) <= 4, `orientation ${i + 1}: ${m.phash} vs ${results[0]!.phash}`);
        assert.ok(Math.abs(m.meanLuma - results[0]!.meanLuma) < 1);
      }
    });

    it('cmyk_adobe.jpg is converted to sRGB before measuring (same picture as base.jpg)', shared, async () => {
      const base = metricsOf(await analyse(caseFile('base.jpg')), 'base');
      const cmyk = metricsOf(await analyse(caseFile('cmyk_adobe.jpg')), 'cmyk');
      assertSane(cmyk, 'cmyk');
      assert.equal(cmyk.sourceSpace, 'cmyk');
      assert.ok(Math.abs(cmyk.meanLuma - base.meanLuma) < 8, `cmyk ${cmyk.meanLuma} vs rgb ${base.meanLuma} (inverted ink would be ~${255 - base.meanLuma})`);
      assert.ok(phashDistance(cmyk.phash!, base.phash!) <= 4);
    });

    it('gray_1ch.jpg and rgb16.png are normalised to 8-bit: no NaN, luma on 0..255', shared, async () => {
      const base = metricsOf(await analyse(caseFile('base.jpg')), 'base');
      const grey = metricsOf(await analyse(caseFile('gray_1ch.jpg')), 'gray');
      assertSane(grey, 'gray');
      assert.equal(grey.sourceSpace, 'b-w');
      assert.ok(Math.abs(grey.meanLuma - base.meanLuma) < 8);
      assert.ok(phashDistance(grey.phash!, base.phash!) <= 4);
      const deep = metricsOf(await analyse(caseFile('rgb16.png')), 'rgb16');
      assertSane(deep, 'rgb16');
      assert.equal(deep.sourceSpace, 'rgb16');
      assert.ok(deep.meanLuma > 100 && deep.meanLuma < 255, `${deep.meanLuma}`);
    });

    it('alpha_hidden_black.png and alpha_hidden_white.png measure the same (flattened onto white)', shared, async () => {
      const black = metricsOf(await analyse(caseFile('alpha_hidden_black.png')), 'black');
      const white = metricsOf(await analyse(caseFile('alpha_hidden_white.png')), 'white');
      assert.equal(black.hasAlpha, true);
      assert.deepEqual(pixelFacts(black), pixelFacts(white));
      // The transparent half became the white background, whatever RGB it hid.
      assert.equal(black.brightClipShare, 0.5);
    });

    it('any hidden RGB under full transparency gives the same result', async () => {
      const W = 64;
      const make = (hidden: number): Uint8Array => {
        const px = new Uint8Array(W * W * 4);
        for (let i = 0; i < W * W; i++) {
          const visible = (i % W) < W / 2 || Math.floor(i / W) < 8;
          px.set(visible ? [40 + (i % 50), 120, 200, 255] : [hidden, 255 - hidden, hidden >> 1, 0], i * 4);
        }
        return encodePng(W, W, 4, px);
      };
      const results = await Promise.all([0, 77, 255].map(async (h) => metricsOf(await analyse(make(h)), `hidden ${h}`)));
      for (const m of results) assert.deepEqual(pixelFacts(m), pixelFacts(results[0]!));
    });

    it('anim.gif: frame count recorded, one frame analysed (height is not the sum of frames)', shared, async () => {
      const m = metricsOf(await analyse(caseFile('anim.gif')), 'anim');
      assertSane(m, 'anim');
      assert.deepEqual([m.format, m.frames, m.width, m.height], ['gif', 3, 120, 90]);
    });

    it('truncated_55pct.jpg is corrupt, never metrics of a grey fill', shared, async () => {
      const r = await analyse(caseFile('truncated_55pct.jpg'));
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.reason, 'corrupt');
        assert.match(r.detail, /premature end|truncat/i);
        assert.doesNotMatch(r.detail, /\n|\s+at\s/, 'no stack in the detail');
      }
    });

    it('any cut of a JPEG is corrupt, down to a missing end marker', shared, async () => {
      const whole = caseFile('base.jpg');
      for (const keep of [0.2, 0.5, 0.9, 0.99]) {
        const r = await analyse(whole.slice(0, Math.floor(whole.length * keep)));
        assert.equal(r.ok ? 'ok' : r.reason, 'corrupt', `kept ${keep}`);
      }
      const r = await analyse(whole.slice(0, whole.length - 2));
      assert.equal(r.ok ? 'ok' : r.reason, 'corrupt', 'without EOI');
    });

    it('bomb_50000x50000.png is refused from its header: too_large, fast, memory flat', shared, async () => {
      const rssBefore = process.memoryUsage().rss;
      const t0 = performance.now();
      const r = await analyse(caseFile('bomb_50000x50000.png'));
      const ms = performance.now() - t0;
      assert.equal(r.ok ? 'ok' : r.reason, 'too_large');
      if (!r.ok) assert.match(r.detail, /50000x50000/);
      assert.ok(ms < 5000, `took ${ms} ms`);
      assert.ok(process.memoryUsage().rss - rssBefore < 300 * 1024 * 1024, 'no gigapixel decode');
    });

    it('a header that declares more pixels than allowed is refused, whatever the format', async () => {
      const lying = encodePng(4, 4, 3, new Uint8Array(48), { declaredWidth: 30_000, declaredHeight: 30_000 });
      const r = await analyse(lying);
      assert.equal(r.ok ? 'ok' : r.reason, 'too_large');
      const fine = await analyse(encodePng(40, 40, 3, new Uint8Array(4800)), { maxPixels: 1000 });
      assert.equal(fine.ok ? 'ok' : fine.reason, 'too_large', 'the limit comes from the options');
    });

    it('iphone_like.heic (HEVC) is unsupported_format, named as heif', shared, async () => {
      const r = await analyse(caseFile('iphone_like.heic'));
      assert.equal(r.ok ? 'ok' : r.reason, 'unsupported_format');
      if (!r.ok) assert.match(r.detail, /heif/);
    });

    it('svg_xxe_entity.svg and other vector/document inputs are unsupported_format', shared, async () => {
      const r = await analyse(caseFile('svg_xxe_entity.svg'));
      assert.equal(r.ok ? 'ok' : r.reason, 'unsupported_format');
      if (!r.ok) assert.match(r.detail, /svg/);
      const enc = new TextEncoder();
      for (const [doc, name] of [
        ['\ufeff\n  <svg xmlns="http://www.w3.org/2000/svg" width="50" height="50"><rect width="50" height="50"/></svg>', 'svg'],
        ['%PDF-1.4\n1 0 obj<<>>endobj\n', 'pdf'],
        ['<!doctype html><title>Too many requests</title>', 'html'],
      ] as const) {
        const out = await analyse(enc.encode(doc));
        assert.equal(out.ok ? 'ok' : out.reason, 'unsupported_format', name);
        if (!out.ok) assert.match(out.detail, new RegExp(name));
      }
    });

    it('bmp_named.jpg is judged by content: bmp, which this build cannot decode', shared, async () => {
      const r = await analyse(caseFile('bmp_named.jpg'));
      assert.equal(r.ok ? 'ok' : r.reason, 'unsupported_format');
      if (!r.ok) assert.match(r.detail, /bmp/);
    });

    it('empty.jpg (0 bytes) does not crash the worker: corrupt', shared, async () => {
      const r = await analyse(caseFile('empty.jpg'));
      assert.equal(r.ok ? 'ok' : r.reason, 'corrupt');
      const next = await analyse(caseFile('base.jpg'));
      assert.equal(next.ok, true);
    });

    it('pixel_1x1.png is too_small under the minimum side; with no minimum it is flat and hash-less', shared, async () => {
      const r = await analyse(caseFile('pixel_1x1.png'));
      assert.equal(r.ok ? 'ok' : r.reason, 'too_small');
      const m = metricsOf(await analyse(caseFile('pixel_1x1.png'), { minSide: 1 }), '1x1');
      assertSane(m, '1x1');
      assert.equal(m.phash, null);
      assert.equal(m.sharpness, 0);
    });

    it('too_small names the upright size', async () => {
      const s = storedForOrientation(markerScene(40, 10), 40, 10, 6); // stored 10x40, upright 40x10
      const r = await analyse(encodePng(s.width, s.height, 3, s.pixels, { exif: orientationTiff(6) }), { minSide: 12 });
      assert.equal(r.ok ? 'ok' : r.reason, 'too_small');
      if (!r.ok) assert.match(r.detail, /^40x10/);
    });

    it('bad_exif_offset.jpg: the EXIF failure is recorded and the pixel analysis still completes', shared, async () => {
      const m = metricsOf(await analyse(caseFile('bad_exif_offset.jpg')), 'bad exif');
      assertSane(m, 'bad exif');
      assert.match(m.exif.error ?? '', /outside/);
      assert.equal(typeof m.phash, 'string');
    });
  });

  describe('real photos (corpus/photos)', () => {
    it('every file analyses with sane metrics or fails with a clear reason', shared, async () => {
      const outcomes = new Map<string, AnalysisOutcome>();
      await Promise.all(corpusNames().map(async (name) => outcomes.set(name, await analyse(corpusFile(name)))));
      assert.ok(outcomes.size >= 40, `corpus has ${outcomes.size} files`);
      for (const [name, r] of outcomes) {
        if (r.ok) {
          assertSane(r.metrics, name);
          continue;
        }
        // Only the broken ones and the HEVC one may fail, and then with a reason, not a crash.
        assert.ok(/^(invalid_|heif_)/.test(name), `${name} failed: ${r.reason}: ${r.detail}`);
        assert.ok(['unsupported_format', 'corrupt'].includes(r.reason), `${name}: ${r.reason}`);
        assert.ok(r.detail.length > 0 && r.detail.length <= 200 && !r.detail.includes('\n'), `${name}: ${r.detail}`);
      }
      const heif = outcomes.get('heif_samplefilehub.heif');
      assert.ok(heif && (heif.ok || heif.reason === 'unsupported_format'));
    });

    it('gps_* carry a location; cam_* and phones name their camera', shared, async () => {
      const names = corpusNames();
      for (const name of names.filter((n) => n.startsWith('gps_'))) {
        const m = metricsOf(await analyse(corpusFile(name)), name);
        assert.equal(m.exif.hasGps, true, name);
        assert.equal(m.exif.camera, 'NIKON COOLPIX P6000', name);
      }
      let named = 0;
      const cams = names.filter((n) => n.startsWith('cam_'));
      for (const name of cams) {
        const file = corpusFile(name);
        const raw = Buffer.from(file).toString('latin1');
        const m = metricsOf(await analyse(file), name);
        if (m.exif.camera !== null) {
          named++;
          // Whatever we print must really be in the file, not invented.
          const model = m.exif.camera.split(' ').at(-1)!;
          assert.ok(raw.includes(model), `${name}: ${m.exif.camera}`);
        }
      }
      assert.ok(named >= 15, `${named} of ${cams.length} cam_ files named their camera`);
      const expected: Record<string, string> = {
        'cam_Canon_40D.jpg': 'Canon EOS 40D',
        'cam_Nikon_D70.jpg': 'NIKON D70',
        'cam_Pentax_K10D.jpg': 'PENTAX K10D',
        'phone_jolla.jpg': 'Jolla',
        'phone_iphone_hdr_NO.jpg': 'Apple iPhone 6',
      };
      for (const [name, camera] of Object.entries(expected)) {
        const m = metricsOf(await analyse(corpusFile(name)), name);
        assert.equal(m.exif.camera, camera, name);
        assert.match(m.exif.takenAt ?? '', /^\d{4}-\d{2}-\d{2}T/, name);
      }
    });

    it('all orient_Landscape_* give one upright size and hashes within 4 bits of each other', shared, async () => {
      const ms: PhotoMetrics[] = [];
      for (let i = 0; i <= 8; i++) ms.push(metricsOf(await analyse(corpusFile(`orient_Landscape_${i}.jpg`)), `Landscape_${i}`));
      for (const [i, m] of ms.entries()) {
        assert.deepEqual([m.width, m.height], [1800, 1200], `Landscape_${i}`);
        for (const other of ms) assert.ok(phashDistance(m.phash!, other.phash!) <= 4, `Landscape_${i}: ${m.phash} vs ${other.phash}`);
      }
      assert.deepEqual(
        ms.map((m) => m.orientation),
        [1, 1, 2, 3, 4, 5, 6, 7, 8],
      );
    });

    it('an 8 MP phone photo reports its full size and megapixels while analysed at 1024 px', shared, async () => {
      const m = metricsOf(await analyse(corpusFile('phone_jolla.jpg')), 'jolla');
      assert.deepEqual([m.width, m.height, m.megapixels], [3264, 2448, 7.99]);
    });
  });

  describe('probe and resize (the sandbox size ladder)', () => {
    it('probe gives the upright header size, and nulls for what cannot be decoded', shared, async () => {
      assert.deepEqual(await pool.probe(caseFile('orient6.jpg'), OPTIONS.maxPixels), { width: 427, height: 640 });
      assert.deepEqual(await pool.probe(corpusFile('orient_Landscape_8.jpg'), OPTIONS.maxPixels), { width: 1800, height: 1200 });
      for (const name of ['bomb_50000x50000.png', 'svg_xxe_entity.svg', 'iphone_like.heic', 'empty.jpg', 'bmp_named.jpg']) {
        assert.deepEqual(await pool.probe(caseFile(name), OPTIONS.maxPixels), { width: null, height: null }, name);
      }
    });

    it('resize makes an upright JPEG that fits inside the box and never enlarges', shared, async () => {
      const jpeg = await pool.resize(corpusFile('orient_Landscape_6.jpg'), 604, 604, OPTIONS.maxPixels);
      assert.ok(jpeg instanceof Uint8Array);
      assert.deepEqual([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff]);
      assert.deepEqual(await pool.probe(jpeg, OPTIONS.maxPixels), { width: 604, height: 403 });
      const small = await pool.resize(caseFile('base.jpg'), 2560, 2048, OPTIONS.maxPixels);
      assert.deepEqual(await pool.probe(small, OPTIONS.maxPixels), { width: 640, height: 427 });
    });

    it('resize refuses what it must not decode', shared, async () => {
      for (const name of ['svg_xxe_entity.svg', 'bomb_50000x50000.png']) {
        await assert.rejects(pool.resize(caseFile(name), 100, 100, OPTIONS.maxPixels), (e: unknown) => e instanceof AnalysisPoolError && e.code === 'task_failed', name);
      }
    });
  });
});
