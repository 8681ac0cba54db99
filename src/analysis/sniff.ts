// Owns format detection by content (magic bytes), never by file name or declared MIME type.

/**
 * What the first bytes say. Raster formats a photo decoder may handle come first; the rest are
 * named only so that a refusal can say what was actually received.
 */
export type SniffedFormat =
  | 'jpeg'
  | 'png'
  | 'gif'
  | 'webp'
  | 'tiff'
  | 'avif'
  | 'heif'
  | 'jxl'
  | 'jp2'
  | 'bmp'
  | 'ico'
  | 'psd'
  | 'svg'
  | 'xml'
  | 'html'
  | 'pdf'
  | 'gzip'
  | 'video'
  | 'empty'
  | 'unknown';

/**
 * Raster formats that the worker may hand to the decoder (if this build can read them).
 * Vector and document formats are excluded on purpose: rendering them can pull in external
 * resources (SVG entities, PDF), and they are not photos.
 */
export const RASTER_FORMATS: ReadonlySet<SniffedFormat> = new Set<SniffedFormat>([
  'jpeg',
  'png',
  'gif',
  'webp',
  'tiff',
  'avif',
  'heif',
  'jxl',
  'jp2',
]);

// ISO-BMFF brands. AVIF files usually also list the generic HEIF brands (mif1, msf1), so
// AVIF is checked first and wins.
const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIF_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'hevm', 'hevs', 'mif1', 'mif2', 'msf1']);

// DIB header sizes of the BMP variants; "BM" alone is too weak a signal (text can start with it).
const BMP_DIB_SIZES = new Set([12, 16, 40, 52, 56, 64, 108, 124]);

/** Looks only at the first bytes; cheap enough to run before anything else touches the input. */
export function sniffFormat(bytes: Uint8Array): SniffedFormat {
  const n = bytes.length;
  if (n === 0) return 'empty';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWithAscii(bytes, 0, 'GIF87a') || startsWithAscii(bytes, 0, 'GIF89a')) return 'gif';
  if (startsWithAscii(bytes, 0, 'RIFF') && startsWithAscii(bytes, 8, 'WEBP')) return 'webp';
  // Classic TIFF (42) and BigTIFF (43) in both byte orders; camera raw files (CR2, NEF, DNG)
  // are TIFF containers too, and the decoder reads their first directory.
  if (
    startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) ||
    startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a]) ||
    startsWith(bytes, [0x49, 0x49, 0x2b, 0x00]) ||
    startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2b])
  ) {
    return 'tiff';
  }
  if (startsWithAscii(bytes, 4, 'ftyp')) return sniffFtyp(bytes);
  if (startsWith(bytes, [0xff, 0x0a])) return 'jxl';
  if (startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a])) return 'jxl';
  if (startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a])) return 'jp2';
  if (startsWith(bytes, [0xff, 0x4f, 0xff, 0x51])) return 'jp2';
  if (startsWithAscii(bytes, 0, 'BM') && n >= 18 && BMP_DIB_SIZES.has(readU32LE(bytes, 14))) return 'bmp';
  if (startsWith(bytes, [0x00, 0x00, 0x01, 0x00]) && n >= 6 && (bytes[4] ?? 0) + (bytes[5] ?? 0) > 0) return 'ico';
  if (startsWithAscii(bytes, 0, '8BPS')) return 'psd';
  if (startsWithAscii(bytes, 0, '%PDF-')) return 'pdf';
  if (startsWith(bytes, [0x1f, 0x8b])) return 'gzip';
  return sniffMarkup(bytes);
}

function sniffFtyp(bytes: Uint8Array): SniffedFormat {
  const boxSize = readU32BE(bytes, 0);
  // The brand list ends with the box; a lying size is clamped to what we have.
  const end = Math.min(bytes.length, boxSize >= 16 ? boxSize : 16, 4096);
  const brands: string[] = [];
  if (end >= 12) brands.push(ascii(bytes, 8, 4));
  for (let off = 16; off + 4 <= end; off += 4) brands.push(ascii(bytes, off, 4));
  if (brands.some((b) => AVIF_BRANDS.has(b))) return 'avif';
  if (brands.some((b) => HEIF_BRANDS.has(b))) return 'heif';
  return 'video';
}

// Text formats: SVG must be recognised however it starts (BOM, whitespace, XML declaration,
// comments, DOCTYPE), because it is the one that is dangerous to render.
function sniffMarkup(bytes: Uint8Array): SniffedFormat {
  let start = 0;
  if (startsWith(bytes, [0xef, 0xbb, 0xbf])) start = 3;
  while (start < bytes.length && isSpace(bytes[start] ?? 0)) start++;
  if (bytes[start] !== 0x3c /* < */) return 'unknown';
  const head = ascii(bytes, start, Math.min(bytes.length - start, 4096)).toLowerCase();
  if (head.includes('<svg')) return 'svg';
  if (head.startsWith('<!doctype html') || head.includes('<html')) return 'html';
  return 'xml';
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  if (bytes.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (bytes[i] !== magic[i]) return false;
  return true;
}

function startsWithAscii(bytes: Uint8Array, offset: number, text: string): boolean {
  if (bytes.length < offset + text.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[offset + i] !== text.charCodeAt(i)) return false;
  return true;
}

function ascii(bytes: Uint8Array, offset: number, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += String.fromCharCode(bytes[offset + i] ?? 0);
  return s;
}

function readU32BE(bytes: Uint8Array, offset: number): number {
  if (bytes.length < offset + 4) return 0;
  return (((bytes[offset] ?? 0) << 24) >>> 0) + ((bytes[offset + 1] ?? 0) << 16) + ((bytes[offset + 2] ?? 0) << 8) + (bytes[offset + 3] ?? 0);
}

function readU32LE(bytes: Uint8Array, offset: number): number {
  if (bytes.length < offset + 4) return 0;
  return (bytes[offset] ?? 0) + ((bytes[offset + 1] ?? 0) << 8) + ((bytes[offset + 2] ?? 0) << 16) + (((bytes[offset + 3] ?? 0) << 24) >>> 0);
}
