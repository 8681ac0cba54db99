// Owns every call into sharp/libvips: the tinypool worker tasks analyse, probe and resize. Runs off the main thread.

import sharp from 'sharp';
import type { FormatEnum, Metadata, OutputInfo, SharpOptions } from 'sharp';

import { parseExif } from './exif.ts';
import { computePixelMetrics } from './metrics.ts';
import { RASTER_FORMATS, sniffFormat } from './sniff.ts';
import type { SniffedFormat } from './sniff.ts';
import type {
  AnalyseTask,
  AnalysisOutcome,
  PhotoFailureReason,
  PhotoMetrics,
  ProbeResult,
  ProbeTask,
  ResizeTask,
} from './types.ts';

/** Longer side of the raster every metric is computed on; thresholds are calibrated at this size. */
export const ANALYSIS_SIZE = 1024;

// 'error' makes truncated and undecodable data fail instead of being padded with grey, while the
// harmless warnings that many phone JPEGs carry ("extraneous bytes before marker") still pass.
const FAIL_ON = 'error' as const;

// Transparent pixels keep arbitrary hidden RGB; compositing on one fixed colour makes two images
// that look the same measure the same.
const BACKGROUND = { r: 255, g: 255, b: 255 } as const;

const RESIZE_JPEG_QUALITY = 87;
const MAX_DETAIL = 200;

// The decoder libvips reports (metadata().format) for each sniffed raster format; also the key
// under which sharp.format says whether this build can read it.
const DECODER: Readonly<Partial<Record<SniffedFormat, keyof FormatEnum>>> = {
  jpeg: 'jpeg',
  png: 'png',
  gif: 'gif',
  webp: 'webp',
  tiff: 'tiff',
  avif: 'heif',
  heif: 'heif',
  jxl: 'jxl',
  jp2: 'jp2',
};

type Refusal = { ok: false; reason: PhotoFailureReason; detail: string; format?: string };

interface Header {
  meta: Metadata;
  format: SniffedFormat;
  width: number;
  height: number;
  orientation: number;
  /** Size once EXIF orientation is applied. */
  uprightWidth: number;
  uprightHeight: number;
}

function refuse(reason: PhotoFailureReason, detail: string, format?: string): Refusal {
  const short = detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL - 1)}…` : detail;
  return format === undefined ? { ok: false, reason, detail: short } : { ok: false, reason, detail: short, format };
}

/** The last non-empty line of a libvips message: earlier lines are loader chatter ("bad seek to ..."). */
function decoderMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines.at(-1) ?? 'decoder failed without a message';
}

function inputOptions(maxPixels: number): SharpOptions {
  return { limitInputPixels: maxPixels, failOn: FAIL_ON, page: 0 };
}

/** Only a positive whole number is a meaningful pixel cap for libvips; anything else is a caller bug. */
function pixelCap(maxPixels: unknown): number {
  if (typeof maxPixels !== 'number' || !Number.isFinite(maxPixels) || maxPixels < 1) {
    throw new RangeError(`maxPixels must be a positive number, got ${String(maxPixels)}`);
  }
  return Math.floor(maxPixels);
}

function bytesOf(buffer: unknown): Uint8Array {
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  throw new TypeError('task.bytes must be an ArrayBuffer');
}

/**
 * Content sniffing and the header read, shared by all three tasks: decides format, refuses what
 * must not be decoded (non-raster, unreadable here, bombs), and computes the upright size.
 * Nothing in here decodes pixels.
 */
async function readHeader(input: Uint8Array, maxPixels: number): Promise<Header | Refusal> {
  const format = sniffFormat(input);
  if (format === 'empty') return refuse('corrupt', 'empty input (0 bytes)');
  if (!RASTER_FORMATS.has(format)) {
    return refuse('unsupported_format', `detected ${format}: not a raster photo format`, format);
  }
  if (!canRead(format)) {
    return refuse('unsupported_format', `detected ${format}: this build cannot decode it`, format);
  }

  let meta: Metadata;
  try {
    meta = await sharp(input, inputOptions(maxPixels)).metadata();
  } catch (limited) {
    // sharp reports the pixel limit only as message text; to decide by data, read the header
    // once more without the limit (header only: no pixels are decoded) and look at the size.
    try {
      const declared = await sharp(input, { limitInputPixels: false, failOn: FAIL_ON, page: 0 }).metadata();
      const pixels = (declared.width ?? 0) * (declared.height ?? 0);
      if (pixels > maxPixels) return tooLarge(declared.width ?? 0, declared.height ?? 0, maxPixels);
    } catch {
      // Same fault without the limit: the first message already says what is wrong.
    }
    return refuse('corrupt', decoderMessage(limited));
  }

  const expected = DECODER[format];
  if (meta.format !== expected) {
    return refuse('unsupported_format', `detected ${format} but the decoder reads it as ${String(meta.format)}`, format);
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width <= 0 || height <= 0) return refuse('corrupt', `${format} header declares no size`);
  if (width * height > maxPixels) return tooLarge(width, height, maxPixels);

  const tag = meta.orientation ?? 1;
  const orientation = Number.isInteger(tag) && tag >= 1 && tag <= 8 ? tag : 1;
  const swap = orientation >= 5;
  return {
    meta,
    format,
    width,
    height,
    orientation,
    uprightWidth: swap ? height : width,
    uprightHeight: swap ? width : height,
  };
}

function tooLarge(width: number, height: number, maxPixels: number): Refusal {
  const mp = (width * height) / 1e6;
  return refuse('too_large', `${width}x${height} (${mp.toFixed(1)} MP) exceeds the limit of ${(maxPixels / 1e6).toFixed(1)} MP`);
}

/** Asks this sharp build, rather than assuming: prebuilt and system-libvips builds differ. */
function canRead(format: SniffedFormat): boolean {
  const key = DECODER[format];
  return key !== undefined && sharp.format[key]?.input.buffer === true;
}

function isRefusal(h: Header | Refusal): h is Refusal {
  return 'ok' in h;
}

/** HEIF is a container: AV1 inside is AVIF, which this build decodes; HEVC (iPhone) usually not. */
function photoFormat(header: Header): string {
  if (header.format === 'avif' || header.format === 'heif') {
    return header.meta.compression === 'av1' ? 'avif' : 'heif';
  }
  return header.format;
}

/** Full analysis of one photo. Bad input never throws: it comes back as a reason and a detail. */
export async function analyse(task: AnalyseTask): Promise<AnalysisOutcome> {
  const options = task.options;
  const maxPixels = pixelCap(options.maxPixels);
  const input = bytesOf(task.bytes);

  const header = await readHeader(input, maxPixels);
  if (isRefusal(header)) return header;

  const shorter = Math.min(header.uprightWidth, header.uprightHeight);
  if (shorter < options.minSide) {
    return refuse('too_small', `${header.uprightWidth}x${header.uprightHeight}: shorter side ${shorter} px is under ${options.minSide} px`);
  }

  // The one and only decode: upright, shrunk on load where the format allows, flattened and
  // normalised to 8-bit sRGB (CMYK through its profile, 16-bit scaled, grey expanded), so that
  // every metric below reads the same kind of pixels whatever the source was.
  let raster: { data: Buffer; info: OutputInfo };
  try {
    raster = await sharp(input, inputOptions(maxPixels))
      .rotate()
      .resize(ANALYSIS_SIZE, ANALYSIS_SIZE, { fit: 'inside', withoutEnlargement: true })
      .flatten({ background: BACKGROUND })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    if (photoFormat(header) === 'heif') {
      return refuse('unsupported_format', `detected heif (${header.meta.compression ?? 'unknown codec'}) which this build cannot decode: ${decoderMessage(error)}`, 'heif');
    }
    return refuse('corrupt', decoderMessage(error));
  }

  const { data, info } = raster;
  const pixels = computePixelMetrics(data, info.width, info.height, info.channels);
  const { meta } = header;
  const metrics: PhotoMetrics = {
    format: photoFormat(header),
    bytes: input.length,
    width: header.uprightWidth,
    height: header.uprightHeight,
    megapixels: Math.round((header.width * header.height) / 1e4) / 100,
    orientation: header.orientation,
    sourceSpace: meta.space ?? 'unknown',
    frames: meta.pages ?? 1,
    hasAlpha: meta.hasAlpha ?? false,
    ...pixels,
    exif: parseExif(meta.exif),
  };
  return { ok: true, metrics };
}

/** Upright size from the header alone; nulls for anything this worker could not decode. */
export async function probe(task: ProbeTask): Promise<ProbeResult> {
  const maxPixels = pixelCap(task.maxPixels);
  const input = bytesOf(task.bytes);
  const header = await readHeader(input, maxPixels);
  if (isRefusal(header)) return { width: null, height: null };
  // A HEVC HEIF has a perfectly readable header that this build then cannot decode; only a
  // real (small) decode tells.
  if (photoFormat(header) === 'heif') {
    try {
      await sharp(input, inputOptions(maxPixels)).resize(8, 8, { fit: 'inside' }).raw().toBuffer();
    } catch {
      return { width: null, height: null };
    }
  }
  return { width: header.uprightWidth, height: header.uprightHeight };
}

/**
 * Upright copy that fits inside maxWidth x maxHeight, as JPEG (never enlarged). Rejects with a
 * RangeError for input it refuses (format, size) and with the decoder's error for broken data.
 */
export async function resize(task: ResizeTask): Promise<Uint8Array> {
  const maxPixels = pixelCap(task.maxPixels);
  for (const [name, v] of [['maxWidth', task.maxWidth], ['maxHeight', task.maxHeight]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${String(v)}`);
  }
  const input = bytesOf(task.bytes);
  const header = await readHeader(input, maxPixels);
  if (isRefusal(header)) throw new RangeError(`${header.reason}: ${header.detail}`);
  const out = await sharp(input, inputOptions(maxPixels))
    .rotate()
    .resize(task.maxWidth, task.maxHeight, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: BACKGROUND })
    .toColourspace('srgb')
    .jpeg({ quality: RESIZE_JPEG_QUALITY })
    .toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
