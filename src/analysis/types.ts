// The data that crosses the worker boundary: what the analysis is asked and what it answers.

/** Limits and thresholds the worker applies; all of them come from configuration. */
export interface AnalysisOptions {
  /** Refuse images whose header declares more pixels than this (decompression bombs). */
  maxPixels: number;
  /** Shorter upright side below this is `too_small`. */
  minSide: number;
  /** Mean luma (0..255) below this: too dark. */
  darkMean: number;
  /** Share of pixels at luma >= 250 above this: overexposed. */
  brightClipShare: number;
  /** Laplacian variance (on the analysis-size grey image) below this: blurry. */
  blurVariance: number;
  /** Megapixels below this: low resolution. */
  minMegapixels: number;
}

/** Reasons a photo cannot be analysed at all; each has a user-facing text in app/texts.ts. */
export const PHOTO_FAILURE_REASONS = ['too_large', 'too_small', 'unsupported_format', 'corrupt', 'download_failed', 'worker_crashed'] as const;
export type PhotoFailureReason = (typeof PHOTO_FAILURE_REASONS)[number];

export function isPhotoFailureReason(code: string | undefined): code is PhotoFailureReason {
  return (PHOTO_FAILURE_REASONS as readonly (string | undefined)[]).includes(code);
}

/** Findings that make the verdict "retake". */
export type RetakeReason = 'too_dark' | 'overexposed' | 'blurry' | 'low_resolution' | 'duplicate';

export interface PhotoMetrics {
  /** Container format decided from magic bytes (jpeg, png, webp, gif, tiff, avif). */
  format: string;
  bytes: number;
  /** Upright size, after EXIF orientation. */
  width: number;
  height: number;
  megapixels: number;
  /** EXIF orientation tag as stored (1 when absent). */
  orientation: number;
  /** Colour space of the source (srgb, cmyk, b-w, rgb16...). */
  sourceSpace: string;
  /** Frames in the file; only frame 0 is analysed. */
  frames: number;
  hasAlpha: boolean;
  /** Mean luma 0..255 after flattening onto white and converting to 8-bit sRGB. */
  meanLuma: number;
  /** Share (0..1) of pixels with luma >= 250 and <= 5. */
  brightClipShare: number;
  darkClipShare: number;
  /** Variance of the 4-neighbour Laplacian of the grey analysis image. */
  sharpness: number;
  /**
   * 64-bit DCT perceptual hash as 16 hex digits; null for flat images and for pictures with too
   * little structure (gradients, two-colour graphics), which would otherwise all match each other.
   */
  phash: string | null;
  /** Standard deviation of luma; near zero means a flat image. */
  lumaStdDev: number;
  exif: ExifSummary;
}

export interface ExifSummary {
  camera: string | null;
  takenAt: string | null;
  hasGps: boolean;
  /** Set when the EXIF block exists but could not be read; pixel analysis still ran. */
  error: string | null;
}

export type AnalysisOutcome =
  | { ok: true; metrics: PhotoMetrics }
  /** `format` is what the bytes are (from magic bytes) when known, for telling the user. */
  | { ok: false; reason: PhotoFailureReason; detail: string; format?: string };

/** Input of the `analyse` worker task. The bytes are transferred, not copied. */
export interface AnalyseTask {
  bytes: ArrayBuffer;
  options: AnalysisOptions;
}

/** Input of the `probe` task: header facts only, for the sandbox's size ladder. */
export interface ProbeTask {
  bytes: ArrayBuffer;
  maxPixels: number;
}

export interface ProbeResult {
  /** Upright size, or null when the bytes are not an image the decoder knows. */
  width: number | null;
  height: number | null;
}

/** Input of the `resize` task: fit inside maxWidth x maxHeight, upright, JPEG out. */
export interface ResizeTask {
  bytes: ArrayBuffer;
  maxWidth: number;
  maxHeight: number;
  maxPixels: number;
}
