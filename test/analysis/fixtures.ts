// Test-only builders of image bytes (PNG, EXIF/TIFF blocks, JPEG APP1 splicing) and paths to the shared fixtures.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import type { AnalysisOptions } from '../../src/analysis/types.ts';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

/** /work/shared next to the checkout; tests that need it skip with this reason when it is missing. */
export const SHARED_DIR = fileURLToPath(new URL('../../../shared/', import.meta.url));
export const CASES_DIR = `${SHARED_DIR}cases/img/`;
export const CORPUS_DIR = `${SHARED_DIR}corpus/photos/`;

export function sharedSkipReason(): string | false {
  return existsSync(CASES_DIR) && existsSync(CORPUS_DIR) ? false : `shared fixtures not found at ${SHARED_DIR}`;
}

/** A fresh copy each time: the pool transfers (detaches) what it is given. */
export function caseFile(name: string): Uint8Array {
  return new Uint8Array(readFileSync(`${CASES_DIR}${name}`));
}

export function corpusFile(name: string): Uint8Array {
  return new Uint8Array(readFileSync(`${CORPUS_DIR}${name}`));
}

export function corpusNames(): string[] {
  return readdirSync(CORPUS_DIR).sort();
}

// ---- PNG ---------------------------------------------------------------------------------

const CRC_TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(parts: Uint8Array[]): number {
  let c = 0xffffffff;
  for (const p of parts) for (let i = 0; i < p.length; i++) c = CRC_TABLE[(c ^ p[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  const typeBytes = new TextEncoder().encode(type);
  out.set(typeBytes, 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32([typeBytes, data]));
  return out;
}

export interface PngOptions {
  /** Raw TIFF block (no "Exif\0\0" prefix) for an eXIf chunk. */
  exif?: Uint8Array;
  /** Declare this size in IHDR regardless of the pixels (decompression-bomb headers). */
  declaredWidth?: number;
  declaredHeight?: number;
}

/** 8-bit grey (1), RGB (3) or RGBA (4) pixels, rows unfiltered. */
export function encodePng(width: number, height: number, channels: 1 | 3 | 4, pixels: Uint8Array, options: PngOptions = {}): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, options.declaredWidth ?? width);
  dv.setUint32(4, options.declaredHeight ?? height);
  ihdr[8] = 8;
  ihdr[9] = channels === 1 ? 0 : channels === 3 ? 2 : 6;
  const rowLen = width * channels;
  const raw = new Uint8Array(height * (rowLen + 1));
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * rowLen, (y + 1) * rowLen), y * (rowLen + 1) + 1);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(options.exif ? [chunk('eXIf', options.exif)] : []),
    chunk('IDAT', new Uint8Array(deflateSync(raw))),
    chunk('IEND', new Uint8Array(0)),
  ];
  return concat(parts);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---- EXIF / TIFF -------------------------------------------------------------------------

export const TYPE = { BYTE: 1, ASCII: 2, SHORT: 3, LONG: 4, RATIONAL: 5, UNDEFINED: 7 } as const;

export interface Entry {
  tag: number;
  type: number;
  /** ASCII text, numbers (SHORT/LONG), [num, den] pairs flattened (RATIONAL), or raw bytes. */
  value: string | number[] | Uint8Array;
  /** Overrides the count written to the entry (to build lying blocks). */
  count?: number;
  /** Overrides the value offset written to the entry (to build lying blocks). */
  offset?: number;
}

export interface TiffSpec {
  ifd0: Entry[];
  exif?: Entry[];
  gps?: Entry[];
  bigEndian?: boolean;
}

function payload(e: Entry, little: boolean): { bytes: Uint8Array; count: number } {
  if (typeof e.value === 'string') {
    const text = new TextEncoder().encode(`${e.value}\0`);
    return { bytes: text, count: text.length };
  }
  if (e.value instanceof Uint8Array) return { bytes: e.value, count: e.value.length };
  const size = e.type === TYPE.SHORT ? 2 : 4;
  const bytes = new Uint8Array(e.value.length * size);
  const dv = new DataView(bytes.buffer);
  e.value.forEach((v, i) => (size === 2 ? dv.setUint16(i * 2, v, little) : dv.setUint32(i * 4, v, little)));
  return { bytes, count: e.type === TYPE.RATIONAL ? e.value.length / 2 : e.value.length };
}

/** A TIFF-structured EXIF block: IFD0, then the EXIF and GPS directories it points to. */
export function tiffBlock(spec: TiffSpec): Uint8Array {
  const little = !spec.bigEndian;
  const dirs: Entry[][] = [[...spec.ifd0]];
  if (spec.exif) dirs.push(spec.exif);
  if (spec.gps) dirs.push(spec.gps);
  // Pointer entries get their values once the layout is known.
  const exifPtr: Entry | undefined = spec.exif ? { tag: 0x8769, type: TYPE.LONG, value: [0] } : undefined;
  const gpsPtr: Entry | undefined = spec.gps ? { tag: 0x8825, type: TYPE.LONG, value: [0] } : undefined;
  if (exifPtr) dirs[0]!.push(exifPtr);
  if (gpsPtr) dirs[0]!.push(gpsPtr);

  const sizeOf = (entries: Entry[]): number =>
    2 + entries.length * 12 + 4 + entries.reduce((n, e) => n + (payload(e, little).bytes.length > 4 ? payload(e, little).bytes.length : 0), 0);
  const starts: number[] = [];
  let at = 8;
  for (const d of dirs) {
    starts.push(at);
    at += sizeOf(d);
  }
  if (exifPtr) exifPtr.value = [starts[1]!];
  if (gpsPtr) gpsPtr.value = [starts[spec.exif ? 2 : 1]!];

  const out = new Uint8Array(at);
  const dv = new DataView(out.buffer);
  out[0] = little ? 0x49 : 0x4d;
  out[1] = out[0];
  dv.setUint16(2, 42, little);
  dv.setUint32(4, 8, little);
  dirs.forEach((entries, di) => {
    const start = starts[di]!;
    dv.setUint16(start, entries.length, little);
    let data = start + 2 + entries.length * 12 + 4;
    entries.forEach((e, i) => {
      const p = payload(e, little);
      const pos = start + 2 + i * 12;
      dv.setUint16(pos, e.tag, little);
      dv.setUint16(pos + 2, e.type, little);
      dv.setUint32(pos + 4, e.count ?? p.count, little);
      if (p.bytes.length <= 4) {
        out.set(p.bytes, pos + 8);
      } else {
        dv.setUint32(pos + 8, e.offset ?? data, little);
        out.set(p.bytes, data);
        data += p.bytes.length;
      }
      if (e.offset !== undefined && p.bytes.length <= 4) dv.setUint32(pos + 8, e.offset, little);
    });
    dv.setUint32(start + 2 + entries.length * 12, 0, little);
  });
  return out;
}

/** The block as libvips hands it over from a JPEG: "Exif\0\0" + TIFF. */
export function exifPayload(tiff: Uint8Array): Uint8Array {
  return concat([new Uint8Array([0x45, 0x78, 0x69, 0x66, 0, 0]), tiff]);
}

/** Inserts an APP1 EXIF segment right after SOI. */
export function withExifSegment(jpeg: Uint8Array, tiff: Uint8Array): Uint8Array {
  const body = exifPayload(tiff);
  const header = new Uint8Array([0xff, 0xe1, ((body.length + 2) >> 8) & 0xff, (body.length + 2) & 0xff]);
  return concat([jpeg.subarray(0, 2), header, body, jpeg.subarray(2)]);
}

export function orientationTiff(orientation: number): Uint8Array {
  return tiffBlock({ ifd0: [{ tag: 0x0112, type: TYPE.SHORT, value: [orientation] }] });
}

// ---- rasters -----------------------------------------------------------------------------

/** RGB raster for which the display transform of EXIF orientation `o` yields `upright`. */
export function storedForOrientation(upright: Uint8Array, width: number, height: number, o: number): { pixels: Uint8Array; width: number; height: number } {
  const swap = o >= 5;
  const sw = swap ? height : width;
  const sh = swap ? width : height;
  const out = new Uint8Array(sw * sh * 3);
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < sw; x++) {
      // (ux, uy): the upright pixel that stored pixel (x, y) shows up as.
      let ux: number;
      let uy: number;
      switch (o) {
        case 2: [ux, uy] = [width - 1 - x, y]; break;
        case 3: [ux, uy] = [width - 1 - x, height - 1 - y]; break;
        case 4: [ux, uy] = [x, height - 1 - y]; break;
        case 5: [ux, uy] = [y, x]; break;
        case 6: [ux, uy] = [width - 1 - y, x]; break;
        case 7: [ux, uy] = [width - 1 - y, height - 1 - x]; break;
        case 8: [ux, uy] = [y, height - 1 - x]; break;
        default: [ux, uy] = [x, y];
      }
      out.set(upright.subarray((uy * width + ux) * 3, (uy * width + ux) * 3 + 3), (y * sw + x) * 3);
    }
  }
  return { pixels: out, width: sw, height: sh };
}

/** A small asymmetric scene: grey ramp, red block top-left, blue block bottom-right, a dark bar. */
export function markerScene(width: number, height: number): Uint8Array {
  const px = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let rgb: [number, number, number] = [150 + Math.round((80 * x) / width), 150 + Math.round((80 * x) / width), 150 + Math.round((80 * x) / width)];
      if (x < width / 4 && y < height / 4) rgb = [230, 20, 20];
      else if (x >= (3 * width) / 4 && y >= (3 * height) / 4) rgb = [20, 20, 230];
      else if (y >= height / 2 - 2 && y < height / 2 + 2 && x > width / 3) rgb = [30, 30, 30];
      px.set(rgb, (y * width + x) * 3);
    }
  }
  return px;
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function noise(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

/** Analysis options shared by the worker and pool tests. */
export const TEST_OPTIONS: AnalysisOptions = {
  maxPixels: 40_000_000,
  minSide: 16,
  darkMean: 40,
  brightClipShare: 0.1,
  blurVariance: 50,
  minMegapixels: 0.3,
};
