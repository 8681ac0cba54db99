// VK's size ladders (dev.vk.com photo-sizes): which copies a photo or a document preview gets, and how big.

export interface SizeSpec {
  type: string;
  width: number;
  height: number;
  /** The copy would be the whole original: it is served as the original bytes, EXIF and all. */
  original: boolean;
}

/** Proportional copies, smallest first; VK stops after the first one that holds the whole original. */
const PHOTO_PROPORTIONAL: ReadonlyArray<readonly [string, number, number]> = [
  ['s', 75, 75],
  ['m', 130, 130],
  ['x', 604, 604],
  ['y', 807, 807],
  ['z', 1080, 1024],
  ['w', 2560, 2048],
];

/** o/p/q/r: max width N; wider than 3:2 VK crops, the sandbox fits into N x 2N/3 instead (no crop op). */
const PHOTO_CROP_TYPES: ReadonlyArray<readonly [string, number]> = [
  ['o', 130],
  ['p', 200],
  ['q', 320],
  ['r', 510],
];

/** Document previews (samples/message_new_doc_image_png.json): s 100x75, m 130x100 ... and o = original. */
const DOC_PROPORTIONAL: ReadonlyArray<readonly [string, number, number]> = [
  ['s', 100, 75],
  ['m', 130, 100],
  ['x', 604, 604],
  ['y', 807, 807],
  ['z', 1280, 1080],
];

function fit(width: number, height: number, maxWidth: number, maxHeight: number): SizeSpec & { type: '' } {
  const scale = Math.min(1, maxWidth / width, maxHeight / height);
  if (scale >= 1) return { type: '', width, height, original: true };
  return {
    type: '',
    width: Math.max(1, Math.round(width * scale)),
    height: Math.max(1, Math.round(height * scale)),
    original: false,
  };
}

/** The s..w steps: never upscaled, always at least s and m (vk-io's small/large getters need one of them). */
function proportionalLadder(
  width: number,
  height: number,
  steps: ReadonlyArray<readonly [string, number, number]>,
): SizeSpec[] {
  const sizes: SizeSpec[] = [];
  for (const [index, [type, maxWidth, maxHeight]] of steps.entries()) {
    const size = fit(width, height, maxWidth, maxHeight);
    sizes.push({ ...size, type });
    if (size.original && index >= 1) break;
  }
  return sizes;
}

function known(width: number | null, height: number | null): { width: number; height: number } | null {
  if (width === null || height === null || !(width > 0) || !(height > 0)) return null;
  return { width, height };
}

/**
 * Sizes of a message photo whose upright size is width x height. When the size is unknown
 * (HEIF, broken files) every type is listed at 0x0 and serves the original, like pre-2012 VK photos.
 */
export function photoSizeLadder(width: number | null, height: number | null): SizeSpec[] {
  const size = known(width, height);
  if (size === null) {
    return [...PHOTO_PROPORTIONAL.map(([type]) => type), ...PHOTO_CROP_TYPES.map(([type]) => type)].map(
      (type) => ({ type, width: 0, height: 0, original: true }),
    );
  }
  const sizes = proportionalLadder(size.width, size.height, PHOTO_PROPORTIONAL);
  // vk-io's medium/large lists skip x, so r must exist or a 600px photo's "large" is the 130px m.
  const wide = size.width / size.height > 1.5;
  for (const [type, maxWidth] of PHOTO_CROP_TYPES) {
    const copy = fit(size.width, size.height, maxWidth, wide ? Math.round((maxWidth * 2) / 3) : Infinity);
    sizes.push({ ...copy, type });
  }
  return sizes;
}

/** Preview sizes of an image document: s, m, larger steps while smaller than the original, then o. */
export function docPreviewLadder(width: number | null, height: number | null): SizeSpec[] | null {
  const size = known(width, height);
  if (size === null) return null;
  // The step that reached the original would duplicate o; s and m stay so a tiny image still has them.
  const sizes = proportionalLadder(size.width, size.height, DOC_PROPORTIONAL).filter(
    (step, index) => index < 2 || !step.original,
  );
  sizes.push({ type: 'o', width: size.width, height: size.height, original: true });
  return sizes;
}
