// Where the worker module lives: next to this file when running from source. The compiled
// binary replaces this module (build.ts), since its files sit in an embedded file system.
export function workerModuleUrl(): string {
  return new URL('./worker.ts', import.meta.url).href;
}
