// Pixel maths on synthetic rasters: luma, exposure stats, Laplacian sharpness, DCT hash and its distance.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  areaResize,
  computePixelMetrics,
  laplacianVariance,
  lumaFromPixels,
  lumaStats,
  MIN_HASH_BITS,
  phashDistance,
  phashFromGrey,
  statsFromHistogram,
} from '../../src/analysis/metrics.ts';
import { noise } from './fixtures.ts';

/** A smooth but structured grey scene (sums of low-frequency waves plus a block), any size. */
function scene(width: number, height: number, seed = 1): Uint8Array {
  const r = noise(8, seed);
  const g = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const v = y / height;
      let val = 128 + 50 * Math.sin(2 * Math.PI * (u * (1 + (r[0]! % 3)) + r[1]! / 255)) + 40 * Math.cos(2 * Math.PI * (v * (1 + (r[2]! % 3)) + r[3]! / 255));
      if (u > 0.6 && v < 0.3) val -= 60;
      g[y * width + x] = Math.max(0, Math.min(255, Math.round(val)));
    }
  }
  return g;
}

/** Nearest-neighbour resize: a crude rescale, enough to check the hash survives scaling. */
function nearest(src: Uint8Array, sw: number, sh: number, dw: number, dh: number): Uint8Array {
  const out = new Uint8Array(dw * dh);
  for (let y = 0; y < dh; y++) for (let x = 0; x < dw; x++) out[y * dw + x] = src[Math.floor((y * sh) / dh) * sw + Math.floor((x * sw) / dw)]!;
  return out;
}

function box3(src: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(src);
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      let s = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) s += src[(y + dy) * w + x + dx]!;
      out[y * w + x] = Math.round(s / 9);
    }
  }
  return out;
}

function rgbFromGrey(g: Uint8Array): Uint8Array {
  const out = new Uint8Array(g.length * 3);
  for (let i = 0; i < g.length; i++) out.fill(g[i]!, i * 3, i * 3 + 3);
  return out;
}

describe('lumaFromPixels', () => {
  it('uses Rec.601 weights, keeps white at 255 and ignores a fourth channel', () => {
    const rgba = new Uint8Array([255, 255, 255, 0, 0, 0, 0, 255, 255, 0, 0, 9, 0, 255, 0, 9, 0, 0, 255, 9]);
    const { grey, histogram } = lumaFromPixels(rgba, 5, 1, 4);
    assert.deepEqual([...grey], [255, 0, 77, 149, 29]);
    assert.equal(histogram.reduce((a, b) => a + b, 0), 5);
    assert.equal(histogram[255], 1);
  });

  it('passes a single channel through', () => {
    assert.deepEqual([...lumaFromPixels(new Uint8Array([3, 200]), 2, 1, 1).grey], [3, 200]);
  });

  it('refuses a raster shorter than its declared size rather than reading past it', () => {
    assert.throws(() => lumaFromPixels(new Uint8Array(5), 2, 1, 3), RangeError);
  });
});

describe('luma statistics', () => {
  it('computes mean, spread and clip shares', () => {
    const half = new Uint8Array(100).fill(255, 50);
    assert.deepEqual(lumaStats(half), { mean: 127.5, stdDev: 127.5, brightClipShare: 0.5, darkClipShare: 0.5 });
  });

  it('gives zeros, not NaN, for an empty or flat image', () => {
    assert.deepEqual(statsFromHistogram(new Uint32Array(256)), { mean: 0, stdDev: 0, brightClipShare: 0, darkClipShare: 0 });
    const flat = lumaStats(new Uint8Array(1000).fill(77));
    assert.equal(flat.stdDev, 0);
    assert.equal(flat.mean, 77);
  });
});

describe('laplacianVariance', () => {
  it('is 0 for flat and too-small images', () => {
    assert.equal(laplacianVariance(new Uint8Array(100).fill(9), 10, 10), 0);
    assert.equal(laplacianVariance(new Uint8Array([0, 255, 255, 0]), 2, 2), 0);
  });

  it('matches a hand-computed value', () => {
    // 3x3 with a bright centre: one interior pixel, Laplacian 4*100 = 400, variance of one value is 0;
    // so use 4x3: interior pixels (1,1)=100 -> 400-0 = 400 and (2,1)=0 -> 0-100 = -100.
    const g = new Uint8Array([0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0]);
    assert.equal(laplacianVariance(g, 4, 3), ((400 - 150) ** 2 + (-100 - 150) ** 2) / 2);
  });

  it('drops when the same picture is blurred', () => {
    const w = 200;
    const h = 150;
    const sharp = scene(w, h);
    for (let i = 0; i < sharp.length; i += 7) sharp[i] = sharp[i]! ^ 0x40; // fine texture
    const blurred = box3(box3(sharp, w, h), w, h);
    assert.ok(laplacianVariance(blurred, w, h) < laplacianVariance(sharp, w, h) / 4);
  });
});

describe('areaResize', () => {
  it('preserves the mean for shrinking and stretching, integral or not', () => {
    for (const [w, h] of [[100, 75], [1024, 683], [33, 31], [8, 8], [1, 1], [3, 50]] as const) {
      const g = scene(w, h, w + h);
      const out = areaResize(g, w, h, 32);
      const inMean = g.reduce((a, b) => a + b, 0) / g.length;
      const outMean = out.reduce((a, b) => a + b, 0) / out.length;
      assert.ok(Math.abs(inMean - outMean) < 1e-6, `${w}x${h}: ${inMean} vs ${outMean}`);
    }
  });

  it('averages whole blocks exactly when the scale is integral', () => {
    const g = new Uint8Array(64 * 64);
    for (let i = 0; i < g.length; i++) g[i] = (i % 64) % 2 === 0 ? 10 : 30;
    const out = areaResize(g, 64, 64, 32);
    for (const v of out) assert.equal(v, 20);
  });
});

describe('phashFromGrey', () => {
  it('gives 16 hex digits with the DC bit clear, the same for the same picture', () => {
    const g = scene(300, 200);
    const a = phashFromGrey(g, 300, 200);
    assert.match(a ?? '', /^[0-7][0-9a-f]{15}$/);
    assert.equal(phashFromGrey(new Uint8Array(g), 300, 200), a);
  });

  it('survives rescaling and mild blur, and separates different pictures', () => {
    const g = scene(320, 240, 3);
    const a = phashFromGrey(g, 320, 240)!;
    const smaller = phashFromGrey(nearest(g, 320, 240, 160, 120), 160, 120)!;
    const blurred = phashFromGrey(box3(g, 320, 240), 320, 240)!;
    const other = phashFromGrey(scene(320, 240, 11), 320, 240)!;
    const inverted = phashFromGrey(g.map((v) => 255 - v), 320, 240)!;
    assert.ok(phashDistance(a, smaller) <= 4, `rescaled: ${phashDistance(a, smaller)}`);
    assert.ok(phashDistance(a, blurred) <= 4, `blurred: ${phashDistance(a, blurred)}`);
    assert.ok(phashDistance(a, other) > 10, `other: ${phashDistance(a, other)}`);
    assert.ok(phashDistance(a, inverted) > 40, `inverted: ${phashDistance(a, inverted)}`);
  });

  it('is null for pictures whose coefficients mostly tie (plain gradients)', () => {
    const ramp = new Uint8Array(64 * 64);
    for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) ramp[y * 64 + x] = x * 4;
    assert.equal(phashFromGrey(ramp, 64, 64), null);
    assert.ok(MIN_HASH_BITS > 0);
  });
});

describe('phashDistance', () => {
  it('counts differing bits', () => {
    assert.equal(phashDistance('0123456789abcdef', '0123456789ABCDEF'), 0);
    assert.equal(phashDistance('0000000000000000', 'ffffffffffffffff'), 64);
    assert.equal(phashDistance('8000000000000000', '0000000000000001'), 2);
    assert.equal(phashDistance('00000000f0000000', '0000000000000000'), 4);
  });

  it('throws on anything that is not a 64-bit hex hash', () => {
    assert.throws(() => phashDistance('xyz', '0000000000000000'), RangeError);
    assert.throws(() => phashDistance('00000000000000000', '0000000000000000'), RangeError);
  });
});

describe('computePixelMetrics', () => {
  it('never produces NaN, even for 1x1 and 2x2 rasters', () => {
    for (const [w, h] of [[1, 1], [2, 2], [1, 40], [40, 1]] as const) {
      const m = computePixelMetrics(rgbFromGrey(noise(w * h, w * 31 + h)), w, h, 3);
      for (const [k, v] of Object.entries(m)) if (typeof v === 'number') assert.ok(Number.isFinite(v), `${w}x${h} ${k}=${v}`);
    }
  });

  it('gives flat images no hash, so they can never be duplicates of each other', () => {
    const flatA = computePixelMetrics(new Uint8Array(64 * 64 * 3).fill(30), 64, 64, 3);
    const nearlyFlat = rgbFromGrey(new Uint8Array(64 * 64).map((_, i) => 200 + (i % 2)));
    const flatB = computePixelMetrics(nearlyFlat, 64, 64, 3);
    assert.equal(flatA.phash, null);
    assert.equal(flatB.phash, null);
    assert.equal(flatA.sharpness, 0);
  });

  it('reports exposure on the 0..255 luma scale', () => {
    const dark = computePixelMetrics(rgbFromGrey(scene(100, 100).map((v) => v >> 3)), 100, 100, 3);
    assert.ok(dark.meanLuma < 30, `${dark.meanLuma}`);
    assert.ok(dark.darkClipShare > 0);
    const white = computePixelMetrics(new Uint8Array(30).fill(255), 10, 1, 3);
    assert.equal(white.brightClipShare, 1);
    assert.equal(white.meanLuma, 255);
  });
});
