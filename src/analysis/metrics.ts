// Owns the pixel maths (exposure, sharpness, perceptual hash) over an already decoded 8-bit raster; no decoder here.

/** Luma standard deviation below this means "flat": no structure to hash or to call blurry. */
export const FLAT_STDDEV = 2;
/** Luma at or above this counts as blown highlights. */
export const BRIGHT_CLIP_LEVEL = 250;
/** Luma at or below this counts as crushed shadows. */
export const DARK_CLIP_LEVEL = 5;

/**
 * A hash with fewer 1-bits than this means most coefficients tie with the median (gradients,
 * two-colour graphics): the bits then say little about the picture, and such images would all
 * look alike. A photo always has 31 (63 AC terms split at their median).
 */
export const MIN_HASH_BITS = 16;

const HASH_GRID = 32;
const HASH_BLOCK = 8;

export interface LumaStats {
  mean: number;
  stdDev: number;
  brightClipShare: number;
  darkClipShare: number;
}

export interface PixelMetrics {
  meanLuma: number;
  lumaStdDev: number;
  brightClipShare: number;
  darkClipShare: number;
  sharpness: number;
  /** 16 hex digits, or null for flat (or hash-less) images so that they never match each other as duplicates. */
  phash: string | null;
}

export interface Grey {
  grey: Uint8Array;
  /** Count of pixels per luma value 0..255. */
  histogram: Uint32Array;
}

/**
 * Rec.601 luma of an interleaved 8-bit raster (1 to 4 channels; alpha, if any, is ignored:
 * the caller flattens first), with its histogram in the same pass. Integer weights 77/150/29
 * sum to 256, so white stays 255 and the result is exact on every engine.
 */
export function lumaFromPixels(pixels: Uint8Array, width: number, height: number, channels: number): Grey {
  const count = width * height;
  if (pixels.length < count * channels) {
    throw new RangeError(`raster of ${pixels.length} bytes is smaller than ${width}x${height}x${channels}`);
  }
  const grey = new Uint8Array(count);
  const histogram = new Uint32Array(256);
  if (channels < 3) {
    for (let i = 0, p = 0; i < count; i++, p += channels) {
      const y = pixels[p]!;
      grey[i] = y;
      histogram[y]!++;
    }
  } else {
    for (let i = 0, p = 0; i < count; i++, p += channels) {
      const y = (77 * pixels[p]! + 150 * pixels[p + 1]! + 29 * pixels[p + 2]! + 128) >> 8;
      grey[i] = y;
      histogram[y]!++;
    }
  }
  return { grey, histogram };
}

/** Mean, standard deviation and clip shares of a luma histogram. */
export function statsFromHistogram(histogram: Uint32Array): LumaStats {
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  let bright = 0;
  let dark = 0;
  for (let v = 0; v < 256; v++) {
    const c = histogram[v] ?? 0;
    n += c;
    sum += c * v;
    sumSq += c * v * v;
    if (v >= BRIGHT_CLIP_LEVEL) bright += c;
    if (v <= DARK_CLIP_LEVEL) dark += c;
  }
  if (n === 0) return { mean: 0, stdDev: 0, brightClipShare: 0, darkClipShare: 0 };
  const mean = sum / n;
  // Rounding can push the variance a hair below zero on flat images; sqrt of that is NaN.
  const variance = Math.max(0, sumSq / n - mean * mean);
  return { mean, stdDev: Math.sqrt(variance), brightClipShare: bright / n, darkClipShare: dark / n };
}

/** Same as statsFromHistogram, for a bare grey buffer. */
export function lumaStats(grey: Uint8Array): LumaStats {
  const histogram = new Uint32Array(256);
  for (let i = 0; i < grey.length; i++) histogram[grey[i]!]!++;
  return statsFromHistogram(histogram);
}

/**
 * Variance of the 4-neighbour Laplacian over interior pixels. Scale-dependent by nature, so the
 * caller must always measure at the same analysis size for the threshold to mean anything.
 */
export function laplacianVariance(grey: Uint8Array, width: number, height: number): number {
  if (width < 3 || height < 3) return 0;
  let sum = 0;
  let sumSq = 0;
  for (let y = 1; y < height - 1; y++) {
    const row = y * width;
    // Left and centre are carried along the row: 3 loads per pixel instead of 5.
    let left = grey[row]!;
    let centre = grey[row + 1]!;
    for (let i = row + 1, end = row + width - 1; i < end; i++) {
      const right = grey[i + 1]!;
      const l = 4 * centre - left - right - grey[i - width]! - grey[i + width]!;
      sum += l;
      sumSq += l * l;
      left = centre;
      centre = right;
    }
  }
  const n = (width - 2) * (height - 2);
  const mean = sum / n;
  return Math.max(0, sumSq / n - mean * mean);
}

/**
 * One destination cell of a box (area) resampling: the source samples wholly inside it, plus
 * the partly covered samples at either edge with the share of them that falls inside.
 */
interface Cell {
  fullFrom: number;
  fullTo: number;
  leftIndex: number;
  leftWeight: number;
  rightIndex: number;
  rightWeight: number;
}

// Exact area weights from srcLen samples to dstLen cells, shrinking or (under 32 px) stretching.
function areaCells(srcLen: number, dstLen: number): Cell[] {
  const scale = srcLen / dstLen;
  const cells: Cell[] = [];
  for (let i = 0; i < dstLen; i++) {
    const start = i * scale;
    const end = Math.min(srcLen, (i + 1) * scale);
    const fullFrom = Math.ceil(start);
    const fullTo = Math.max(fullFrom, Math.floor(end));
    const cell: Cell = { fullFrom, fullTo, leftIndex: 0, leftWeight: 0, rightIndex: 0, rightWeight: 0 };
    const first = Math.floor(start);
    if (first < fullFrom || fullFrom >= fullTo) {
      // The cell starts inside a sample; when stretching, it may also end inside the same one.
      cell.leftIndex = Math.min(first, srcLen - 1);
      cell.leftWeight = Math.min(end, first + 1) - start;
    }
    if (end > fullTo && Math.floor(end) > first && Math.floor(end) < srcLen) {
      cell.rightIndex = Math.floor(end);
      cell.rightWeight = end - Math.floor(end);
    }
    cells.push(cell);
  }
  return cells;
}

/** Area-averages the grey image down (or up) to size x size. */
export function areaResize(grey: Uint8Array, width: number, height: number, size: number): Float64Array {
  const cx = areaCells(width, size);
  const cy = areaCells(height, size);
  const norm = 1 / ((width / size) * (height / size));
  const rows = new Float64Array(height * size);
  for (let y = 0; y < height; y++) {
    const src = y * width;
    const dst = y * size;
    for (let i = 0; i < size; i++) {
      const c = cx[i]!;
      // Whole samples: plain integer adds, which is where nearly all the pixels go.
      let whole = 0;
      for (let j = src + c.fullFrom, end = src + c.fullTo; j < end; j++) whole += grey[j]!;
      rows[dst + i] = whole + grey[src + c.leftIndex]! * c.leftWeight + grey[src + c.rightIndex]! * c.rightWeight;
    }
  }
  const out = new Float64Array(size * size);
  for (let i = 0; i < size; i++) {
    const c = cy[i]!;
    const dst = i * size;
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (let y = c.fullFrom; y < c.fullTo; y++) acc += rows[y * size + x]!;
      acc += rows[c.leftIndex * size + x]! * c.leftWeight + rows[c.rightIndex * size + x]! * c.rightWeight;
      out[dst + x] = acc * norm;
    }
  }
  return out;
}

/**
 * DCT perceptual hash: 32x32 area-averaged grey, 2-D DCT-II, the 8x8 lowest frequencies
 * compared with their median. The DC term is left out of the median and its bit is always 0:
 * overall brightness says nothing about what the picture shows. Null when the split carries
 * too little information (see MIN_HASH_BITS).
 */
export function phashFromGrey(grey: Uint8Array, width: number, height: number): string | null {
  const n = HASH_GRID;
  const b = HASH_BLOCK;
  const small = areaResize(grey, width, height, n);
  const cos = dctBasis(b, n);
  // Separable: rows first (32 rows x 8 frequencies), then columns.
  const rowCoef = new Float64Array(n * b);
  for (let y = 0; y < n; y++) {
    for (let u = 0; u < b; u++) {
      let acc = 0;
      for (let x = 0; x < n; x++) acc += small[y * n + x]! * cos[u * n + x]!;
      rowCoef[y * b + u] = acc;
    }
  }
  const coef = new Float64Array(b * b);
  for (let v = 0; v < b; v++) {
    for (let u = 0; u < b; u++) {
      let acc = 0;
      for (let y = 0; y < n; y++) acc += rowCoef[y * b + u]! * cos[v * n + y]!;
      coef[v * b + u] = acc;
    }
  }
  const ac = coef.slice(1).sort();
  const median = ac[(ac.length - 1) >> 1]!;
  // Symmetric pictures have coefficients that are mathematically equal to the median (often 0);
  // rounding noise must not decide their bit, so "greater" means greater by a clear margin.
  let peak = 0;
  for (let i = 1; i < 64; i++) peak = Math.max(peak, Math.abs(coef[i]!));
  const threshold = median + peak * 1e-9;
  let hi = 0;
  let lo = 0;
  let bits = 0;
  for (let i = 1; i < 64; i++) {
    if (coef[i]! > threshold) {
      bits++;
      if (i < 32) hi |= 1 << (31 - i);
      else lo |= 1 << (63 - i);
    }
  }
  return bits < MIN_HASH_BITS ? null : hex32(hi) + hex32(lo);
}

/**
 * cos((2x+1)·u·π / 2n) for u < size, x < n. Math.cos may differ in the last bit between engines
 * (V8 and JavaScriptCore use different libms); quantising to 2^-32 makes Node and Bun compute
 * bit-identical hashes.
 */
function dctBasis(size: number, n: number): Float64Array {
  const q = 2 ** 32;
  const cos = new Float64Array(size * n);
  for (let u = 0; u < size; u++) {
    for (let x = 0; x < n; x++) cos[u * n + x] = Math.round(Math.cos(((2 * x + 1) * u * Math.PI) / (2 * n)) * q) / q;
  }
  return cos;
}

function hex32(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}

const PHASH_RE = /^[0-9a-f]{16}$/i;

/** Hamming distance of two 64-bit hashes as produced by phashFromGrey (0 = same picture). */
export function phashDistance(a: string, b: string): number {
  if (!PHASH_RE.test(a) || !PHASH_RE.test(b)) {
    throw new RangeError(`phash must be 16 hex digits, got ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
  }
  const hi = (parseInt(a.slice(0, 8), 16) ^ parseInt(b.slice(0, 8), 16)) >>> 0;
  const lo = (parseInt(a.slice(8), 16) ^ parseInt(b.slice(8), 16)) >>> 0;
  return popcount32(hi) + popcount32(lo);
}

function popcount32(v: number): number {
  let x = v - ((v >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Every pixel metric from one decoded raster, rounded for storage; never NaN. */
export function computePixelMetrics(pixels: Uint8Array, width: number, height: number, channels: number): PixelMetrics {
  if (width <= 0 || height <= 0) {
    return { meanLuma: 0, lumaStdDev: 0, brightClipShare: 0, darkClipShare: 0, sharpness: 0, phash: null };
  }
  const { grey, histogram } = lumaFromPixels(pixels, width, height, channels);
  const stats = statsFromHistogram(histogram);
  const flat = stats.stdDev < FLAT_STDDEV;
  return {
    meanLuma: round(stats.mean, 2),
    lumaStdDev: round(stats.stdDev, 2),
    brightClipShare: round(stats.brightClipShare, 5),
    darkClipShare: round(stats.darkClipShare, 5),
    sharpness: round(laplacianVariance(grey, width, height), 2),
    phash: flat ? null : phashFromGrey(grey, width, height),
  };
}

function round(v: number, digits: number): number {
  if (!Number.isFinite(v)) return 0;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
