// Owns reading the few EXIF facts the bot reports (camera, capture time, GPS presence) from a raw TIFF/EXIF block.

import type { ExifSummary } from './types.ts';

const TAG_MAKE = 0x010f;
const TAG_MODEL = 0x0110;
const TAG_DATETIME = 0x0132;
const TAG_EXIF_IFD = 0x8769;
const TAG_GPS_IFD = 0x8825;
const TAG_DATETIME_ORIGINAL = 0x9003;
const TAG_OFFSET_TIME = 0x9010;
const TAG_OFFSET_TIME_ORIGINAL = 0x9011;
const TAG_GPS_LATITUDE = 0x0002;
const TAG_GPS_LONGITUDE = 0x0004;

const TYPE_SIZES: Readonly<Record<number, number>> = {
  1: 1, // BYTE
  2: 1, // ASCII
  3: 2, // SHORT
  4: 4, // LONG
  5: 8, // RATIONAL
  6: 1, // SBYTE
  7: 1, // UNDEFINED
  8: 2, // SSHORT
  9: 4, // SLONG
  10: 8, // SRATIONAL
  11: 4, // FLOAT
  12: 8, // DOUBLE
  13: 4, // IFD (a LONG used as a directory pointer)
};

const MAX_TEXT = 64;

/** A structural fault in the block; caught inside this module and reported as `error` text. */
class ExifFormatError extends Error {
  readonly code = 'exif_malformed';
}

interface Entry {
  tag: number;
  type: number;
  count: number;
  /** Absolute offset of the value bytes inside the TIFF block. */
  valueOffset: number;
}

/** Bounds-checked reads over the TIFF part of the block, in its declared byte order. */
class TiffReader {
  readonly view: DataView;
  readonly little: boolean;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 8) throw new ExifFormatError(`TIFF header needs 8 bytes, block has ${bytes.length}`);
    const order = String.fromCharCode(bytes[0] ?? 0, bytes[1] ?? 0);
    if (order === 'II') this.little = true;
    else if (order === 'MM') this.little = false;
    else throw new ExifFormatError('TIFF header has no II/MM byte order mark');
    if (this.u16(2) !== 42) throw new ExifFormatError('TIFF header magic is not 42');
  }

  get length(): number {
    return this.bytes.length;
  }

  u16(offset: number): number {
    this.need(offset, 2);
    return this.view.getUint16(offset, this.little);
  }

  u32(offset: number): number {
    this.need(offset, 4);
    return this.view.getUint32(offset, this.little);
  }

  need(offset: number, size: number): void {
    if (offset < 0 || offset + size > this.bytes.length) {
      throw new ExifFormatError(`offset ${offset} (+${size}) is outside the ${this.bytes.length}-byte EXIF block`);
    }
  }

  /** Reads one directory; offsets that point outside the block are a format error. */
  ifd(offset: number, name: string): Map<number, Entry> {
    if (offset < 8 || offset + 2 > this.length) {
      throw new ExifFormatError(`${name} offset ${offset} is outside the ${this.length}-byte EXIF block`);
    }
    const count = this.u16(offset);
    if (offset + 2 + count * 12 > this.length) {
      throw new ExifFormatError(`${name} declares ${count} entries, more than the block holds`);
    }
    const entries = new Map<number, Entry>();
    for (let i = 0; i < count; i++) {
      const at = offset + 2 + i * 12;
      const tag = this.u16(at);
      const type = this.u16(at + 2);
      const valueCount = this.u32(at + 4);
      const size = TYPE_SIZES[type];
      // Unknown types are legal in principle (later TIFF versions); skip them instead of failing.
      if (size === undefined) continue;
      const total = size * valueCount;
      const valueOffset = total <= 4 ? at + 8 : this.u32(at + 8);
      entries.set(tag, { tag, type, count: valueCount, valueOffset });
    }
    return entries;
  }

  text(entry: Entry | undefined): string | null {
    if (entry === undefined) return null;
    if (entry.type !== 2 && entry.type !== 1 && entry.type !== 7) return null;
    const size = Math.min(entry.count, 256);
    this.need(entry.valueOffset, size);
    let s = '';
    for (let i = 0; i < size; i++) {
      const c = this.bytes[entry.valueOffset + i] ?? 0;
      if (c === 0) break;
      // Printable Latin-1 only: this text ends up in a chat message.
      s += c >= 0x20 && c !== 0x7f ? String.fromCharCode(c) : ' ';
    }
    const trimmed = s.replace(/\s+/g, ' ').trim();
    return trimmed === '' ? null : trimmed;
  }

  rationals(entry: Entry | undefined): number[] | null {
    if (entry === undefined || (entry.type !== 5 && entry.type !== 10) || entry.count < 1) return null;
    const n = Math.min(entry.count, 3);
    this.need(entry.valueOffset, n * 8);
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const at = entry.valueOffset + i * 8;
      const num = entry.type === 5 ? this.view.getUint32(at, this.little) : this.view.getInt32(at, this.little);
      const den = entry.type === 5 ? this.view.getUint32(at + 4, this.little) : this.view.getInt32(at + 4, this.little);
      if (den === 0) return null;
      out.push(num / den);
    }
    return out;
  }

  pointer(entry: Entry | undefined): number | null {
    if (entry === undefined) return null;
    if (entry.type === 4 || entry.type === 13) return this.u32(entry.valueOffset);
    if (entry.type === 3) return this.u16(entry.valueOffset);
    return null;
  }
}

export const EMPTY_EXIF: ExifSummary = Object.freeze({ camera: null, takenAt: null, hasGps: false, error: null });

/**
 * Reads the EXIF block as sharp's metadata() returns it ("Exif\0\0" + TIFF, or bare TIFF).
 * Never throws: whatever cannot be read is reported in `error`, and whatever was read before
 * the fault is kept (a broken GPS directory does not hide the camera name).
 */
export function parseExif(block: Uint8Array | undefined | null): ExifSummary {
  if (block === undefined || block === null || block.length === 0) return { ...EMPTY_EXIF };
  const result: { camera: string | null; takenAt: string | null; hasGps: boolean; error: string | null } = {
    camera: null,
    takenAt: null,
    hasGps: false,
    error: null,
  };
  const fail = (e: unknown): void => {
    // Only the first fault is kept: later ones are usually consequences of it. Anything else
    // (a reader bug on a block nobody foresaw) is recorded the same way rather than thrown,
    // because EXIF is an optional extra and must never cost the user the pixel analysis.
    if (result.error !== null) return;
    if (e instanceof ExifFormatError) result.error = e.message;
    else result.error = `EXIF block unreadable: ${e instanceof Error ? e.message : String(e)}`;
  };
  let reader: TiffReader;
  try {
    reader = new TiffReader(tiffPart(block));
  } catch (e) {
    fail(e);
    return result;
  }

  let ifd0: Map<number, Entry>;
  try {
    ifd0 = reader.ifd(reader.u32(4), 'IFD0');
  } catch (e) {
    fail(e);
    return result;
  }

  try {
    result.camera = cameraName(reader.text(ifd0.get(TAG_MAKE)), reader.text(ifd0.get(TAG_MODEL)));
  } catch (e) {
    fail(e);
  }

  let dateTime: string | null = null;
  let offsetTime: string | null = null;
  try {
    dateTime = reader.text(ifd0.get(TAG_DATETIME));
  } catch (e) {
    fail(e);
  }

  try {
    const exifOffset = reader.pointer(ifd0.get(TAG_EXIF_IFD));
    if (exifOffset !== null) {
      const exifIfd = reader.ifd(exifOffset, 'EXIF IFD');
      const original = reader.text(exifIfd.get(TAG_DATETIME_ORIGINAL));
      if (original !== null && exifDate(original, null) !== null) {
        dateTime = original;
        offsetTime = reader.text(exifIfd.get(TAG_OFFSET_TIME_ORIGINAL));
      } else {
        offsetTime = reader.text(exifIfd.get(TAG_OFFSET_TIME));
      }
    }
  } catch (e) {
    fail(e);
  }
  result.takenAt = dateTime === null ? null : exifDate(dateTime, offsetTime);

  try {
    const gpsOffset = reader.pointer(ifd0.get(TAG_GPS_IFD));
    if (gpsOffset !== null) {
      const gps = reader.ifd(gpsOffset, 'GPS IFD');
      const lat = reader.rationals(gps.get(TAG_GPS_LATITUDE));
      const lon = reader.rationals(gps.get(TAG_GPS_LONGITUDE));
      // Cameras without a fix often write the GPS directory with zero coordinates or none at all:
      // only real numbers count as "this file carries a location".
      result.hasGps = lat !== null && lon !== null && lat.concat(lon).some((v) => v !== 0) && lat.concat(lon).every(Number.isFinite);
    }
  } catch (e) {
    fail(e);
  }
  return result;
}

function tiffPart(block: Uint8Array): Uint8Array {
  // libvips hands over the APP1 payload with its "Exif\0\0" prefix; PNG eXIf and WebP EXIF
  // chunks may come without it.
  if (block.length >= 6 && block[0] === 0x45 && block[1] === 0x78 && block[2] === 0x69 && block[3] === 0x66) {
    return block.subarray(6);
  }
  return block;
}

/** "Canon" + "Canon EOS 40D" reads better as just the model; so does "NIKON CORPORATION" + "NIKON D70". */
export function cameraName(make: string | null, model: string | null): string | null {
  const mk = make?.slice(0, MAX_TEXT) ?? null;
  const md = model?.slice(0, MAX_TEXT) ?? null;
  if (mk === null) return md;
  if (md === null) return mk;
  const brand = mk.split(' ')[0]?.toLowerCase() ?? '';
  if (brand !== '' && md.toLowerCase().startsWith(brand)) return md;
  return `${mk} ${md}`;
}

/** "2008:10:22 16:29:49" (+ optional "+03:00") -> "2008-10-22T16:29:49+03:00"; null when blank or impossible. */
export function exifDate(value: string, offset: string | null): string | null {
  const m = /^(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(value.trim());
  if (m === null) return null;
  const [, y, mo, d, h, mi, s] = m;
  const month = Number(mo);
  const day = Number(d);
  if (Number(y) < 1900 || month < 1 || month > 12 || day < 1 || day > 31) return null;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) return null;
  const zone = offset !== null && /^[+-]\d{2}:\d{2}$/.test(offset.trim()) ? offset.trim() : '';
  return `${y}-${mo}-${d}T${h}:${mi}:${s}${zone}`;
}
