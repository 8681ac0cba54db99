// Test-only entry for the analysis worker under Node + tsx: Node 20 does not pass `--import tsx`
// on to worker threads, so the TypeScript worker is loaded through tsx's API instead. Bun needs none of this.
import { tsImport } from 'tsx/esm/api';

const worker = await tsImport('../../src/analysis/worker.ts', import.meta.url);

export const analyse = worker.analyse;
export const probe = worker.probe;
export const resize = worker.resize;
