// Adapts the analysis worker pool to the image work the sandbox needs (probe and resize).

import type { SandboxImages } from './types.ts';

/** The part of src/analysis/pool.ts the sandbox uses; structural, so the sandbox does not load the pool. */
export interface ImagePool {
  probe(bytes: Uint8Array, maxPixels: number): Promise<{ width: number | null; height: number | null }>;
  resize(bytes: Uint8Array, maxWidth: number, maxHeight: number, maxPixels: number): Promise<Uint8Array>;
}

/** maxPixels bounds every decode, so a declared-huge image (a bomb) is refused by the header, not decoded. */
export function sandboxImagesFromPool(pool: ImagePool, maxPixels: number): SandboxImages {
  return {
    probe: (bytes) => pool.probe(bytes, maxPixels),
    resize: (bytes, maxWidth, maxHeight) => pool.resize(bytes, maxWidth, maxHeight, maxPixels),
  };
}
