// The EXIF reader: the facts it extracts, and that no malformed block ever throws out of it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { cameraName, exifDate, parseExif } from '../../src/analysis/exif.ts';
import { exifPayload, noise, tiffBlock, TYPE } from './fixtures.ts';
import type { Entry, TiffSpec } from './fixtures.ts';

const MAKE = 0x010f;
const MODEL = 0x0110;
const DATETIME = 0x0132;
const DATETIME_ORIGINAL = 0x9003;
const OFFSET_TIME_ORIGINAL = 0x9011;

const gpsAt = (lat: number[], lon: number[]): Entry[] => [
  { tag: 0x0001, type: TYPE.ASCII, value: 'N' },
  { tag: 0x0002, type: TYPE.RATIONAL, value: lat },
  { tag: 0x0003, type: TYPE.ASCII, value: 'E' },
  { tag: 0x0004, type: TYPE.RATIONAL, value: lon },
];

const full: TiffSpec = {
  ifd0: [
    { tag: MAKE, type: TYPE.ASCII, value: 'NIKON CORPORATION' },
    { tag: MODEL, type: TYPE.ASCII, value: 'NIKON D70' },
    { tag: DATETIME, type: TYPE.ASCII, value: '2009:01:01 00:00:00' },
  ],
  exif: [
    { tag: DATETIME_ORIGINAL, type: TYPE.ASCII, value: '2008:10:22 16:29:49' },
    { tag: OFFSET_TIME_ORIGINAL, type: TYPE.ASCII, value: '+03:00' },
  ],
  gps: gpsAt([55, 1, 45, 1, 1234, 100], [37, 1, 37, 1, 0, 1]),
};

describe('parseExif', () => {
  it('reads camera, original capture time with its offset, and GPS presence', () => {
    const e = parseExif(exifPayload(tiffBlock(full)));
    assert.deepEqual(e, { camera: 'NIKON D70', takenAt: '2008-10-22T16:29:49+03:00', hasGps: true, error: null });
  });

  it('reads big-endian blocks and blocks without the "Exif\\0\\0" prefix alike', () => {
    const be = parseExif(exifPayload(tiffBlock({ ...full, bigEndian: true })));
    const bare = parseExif(tiffBlock(full));
    assert.deepEqual(be, bare);
    assert.equal(be.camera, 'NIKON D70');
  });

  it('falls back to DateTime when there is no DateTimeOriginal', () => {
    const e = parseExif(exifPayload(tiffBlock({ ifd0: [{ tag: DATETIME, type: TYPE.ASCII, value: '2004:08:27 13:52:55' }] })));
    assert.equal(e.takenAt, '2004-08-27T13:52:55');
    assert.equal(e.camera, null);
  });

  it('does not call a GPS directory without coordinates (or with zeros) a location', () => {
    const zeros = parseExif(exifPayload(tiffBlock({ ifd0: [], gps: gpsAt([0, 1, 0, 1, 0, 1], [0, 1, 0, 1, 0, 1]) })));
    assert.equal(zeros.hasGps, false);
    const versionOnly = parseExif(exifPayload(tiffBlock({ ifd0: [], gps: [{ tag: 0, type: TYPE.BYTE, value: new Uint8Array([2, 2, 0, 0]) }] })));
    assert.equal(versionOnly.hasGps, false);
    const zeroDenominator = parseExif(exifPayload(tiffBlock({ ifd0: [], gps: gpsAt([55, 0, 1, 1, 0, 1], [37, 1, 1, 1, 0, 1]) })));
    assert.equal(zeroDenominator.hasGps, false);
    assert.equal(zeroDenominator.error, null);
  });

  it('returns an empty summary for no block at all', () => {
    for (const block of [undefined, null, new Uint8Array(0)]) {
      assert.deepEqual(parseExif(block), { camera: null, takenAt: null, hasGps: false, error: null });
    }
  });

  it('reports an IFD0 offset outside the block as an error instead of throwing', () => {
    // The same fault as cases/img/bad_exif_offset.jpg: "II*\0" then an offset far past the end.
    const block = exifPayload(new Uint8Array([0x49, 0x49, 0x2a, 0x00, 0x00, 0xff, 0xff, 0x7f]));
    const e = parseExif(block);
    assert.match(e.error ?? '', /IFD0 offset \d+ is outside/);
    assert.equal(e.camera, null);
  });

  it('keeps what it could read before a broken directory', () => {
    const spec: TiffSpec = {
      ifd0: [{ tag: MAKE, type: TYPE.ASCII, value: 'Canon' }, { tag: MODEL, type: TYPE.ASCII, value: 'Canon EOS 40D' }],
      gps: gpsAt([55, 1, 45, 1, 0, 1], [37, 1, 37, 1, 0, 1]),
    };
    const block = tiffBlock(spec);
    // Point the GPS IFD pointer (last IFD0 entry) far outside the block.
    const dv = new DataView(block.buffer);
    const count = dv.getUint16(8, true);
    dv.setUint32(8 + 2 + (count - 1) * 12 + 8, 0x00ffffff, true);
    const e = parseExif(block);
    assert.equal(e.camera, 'Canon EOS 40D');
    assert.equal(e.hasGps, false);
    assert.match(e.error ?? '', /GPS IFD/);
  });

  it('reports a value pointing outside the block', () => {
    const e = parseExif(tiffBlock({ ifd0: [{ tag: MODEL, type: TYPE.ASCII, value: 'a long model name', offset: 0x7fff0000 }] }));
    assert.match(e.error ?? '', /outside/);
    assert.equal(e.camera, null);
  });

  it('rejects a block whose header is not TIFF', () => {
    assert.match(parseExif(exifPayload(new TextEncoder().encode('XX*\0garbage'))).error ?? '', /byte order/);
    assert.match(parseExif(exifPayload(new Uint8Array([0x49, 0x49, 0x2b, 0, 8, 0, 0, 0]))).error ?? '', /magic/);
    assert.match(parseExif(new Uint8Array([0x45, 0x78, 0x69, 0x66, 0, 0, 0x49])).error ?? '', /8 bytes/);
  });

  it('never throws on truncated or bit-flipped blocks (exhaustive prefixes, seeded flips)', () => {
    const good = exifPayload(tiffBlock(full));
    for (let n = 0; n <= good.length; n++) {
      const e = parseExif(good.subarray(0, n));
      assert.equal(typeof e.hasGps, 'boolean');
    }
    const r = noise(4000, 7);
    for (let trial = 0; trial < 500; trial++) {
      const bad = new Uint8Array(good);
      for (let k = 0; k < 4; k++) {
        const at = (r[trial * 8 + k * 2]! * 256 + r[trial * 8 + k * 2 + 1]!) % bad.length;
        bad[at] = r[(trial * 8 + k) % r.length]!;
      }
      const e = parseExif(bad);
      assert.ok(e.error === null || typeof e.error === 'string');
    }
    for (let seed = 1; seed <= 50; seed++) parseExif(noise(64 + seed * 7, seed));
  });
});

describe('cameraName', () => {
  it('drops a make the model already starts with', () => {
    assert.equal(cameraName('Canon', 'Canon EOS 40D'), 'Canon EOS 40D');
    assert.equal(cameraName('NIKON CORPORATION', 'NIKON D70'), 'NIKON D70');
    assert.equal(cameraName('OLYMPUS IMAGING CORP.', 'E-M5'), 'OLYMPUS IMAGING CORP. E-M5');
    assert.equal(cameraName(null, 'iPhone 6'), 'iPhone 6');
    assert.equal(cameraName('Jolla', null), 'Jolla');
    assert.equal(cameraName(null, null), null);
  });
});

describe('exifDate', () => {
  it('turns EXIF dates into ISO-like text and refuses blanks and impossible values', () => {
    assert.equal(exifDate('2014:09:21 16:00:56', null), '2014-09-21T16:00:56');
    assert.equal(exifDate('2014:09:21 16:00:56', '+02:00'), '2014-09-21T16:00:56+02:00');
    assert.equal(exifDate('2014:09:21 16:00:56', 'junk'), '2014-09-21T16:00:56');
    assert.equal(exifDate('    :  :     :  :  ', null), null);
    assert.equal(exifDate('0000:00:00 00:00:00', null), null);
    assert.equal(exifDate('2014:13:01 00:00:00', null), null);
  });
});
