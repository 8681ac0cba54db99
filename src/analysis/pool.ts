// Owns the tinypool of analysis workers and the typed facade (timeouts, transfer, crash handling) the app calls.

import { Tinypool } from 'tinypool';

import { workerModuleUrl } from './worker-file.ts';
import type { AnalyseTask, AnalysisOptions, AnalysisOutcome, ProbeResult, ProbeTask, ResizeTask } from './types.ts';

export interface AnalysisPoolOptions {
  /** Worker threads at most; each one runs one photo at a time. */
  threads: number;
  /**
   * A task that runs longer than this is aborted and its thread replaced. The clock starts when
   * the task gets a thread (waiting for a free thread does not count).
   */
  taskTimeoutMs: number;
  /** tinypool's Atomics wake-up; Deno hangs with it. Default: on, except under Deno. */
  useAtomics?: boolean;
  /** Threads kept alive while idle (default 1, at most `threads`): the first photo skips the start-up. */
  minThreads?: number;
  /** Idle time after which threads above minThreads stop (default 30 s). */
  idleTimeoutMs?: number;
  /** Worker module URL, for builds that move it; default: worker.ts next to this file. */
  workerUrl?: string;
  /**
   * A worker that fails while holding no task has nobody to reject; its error lands here.
   * Default: process.emitWarning, so it is visible but not fatal.
   */
  onWorkerError?: (error: Error) => void;
}

export interface AnalysisPoolStats {
  /** Threads alive now. */
  threads: number;
  /** Tasks waiting for a thread. */
  queued: number;
  /** Tasks finished since the pool started, whatever the outcome. */
  completed: number;
  /** Share (0..1) of the pool's thread capacity that has been busy since it started. */
  utilization: number;
}

export interface RunLimits {
  /** Overrides taskTimeoutMs for this call. */
  timeoutMs?: number;
}

export interface AnalysisPool {
  /**
   * Analyses one photo in a worker. `bytes` is handed over: its buffer is transferred (detached
   * here) unless it is a view on a larger or shared buffer, in which case it is copied first.
   * Resolves with a failure outcome for bad input, a timeout (`worker_crashed`, "timed out") or a
   * dead worker (`worker_crashed`); rejects only with AnalysisPoolError('pool_closed') or a
   * RangeError for invalid options.
   */
  analyse(bytes: Uint8Array, options: AnalysisOptions, limits?: RunLimits): Promise<AnalysisOutcome>;
  /** Upright size from the header; nulls when the bytes are not an image this build decodes. */
  probe(bytes: Uint8Array, maxPixels: number, limits?: RunLimits): Promise<ProbeResult>;
  /** Upright JPEG fitting inside maxWidth x maxHeight; rejects with AnalysisPoolError. */
  resize(bytes: Uint8Array, maxWidth: number, maxHeight: number, maxPixels: number, limits?: RunLimits): Promise<Uint8Array>;
  stats(): AnalysisPoolStats;
  /** Stops every thread; running and waiting calls reject with AnalysisPoolError('pool_closed'). */
  close(): Promise<void>;
}

export type AnalysisPoolErrorCode = 'pool_closed' | 'timeout' | 'task_failed';

/** Why a pool call did not produce a result (analyse reports timeouts and crashes as outcomes instead). */
export class AnalysisPoolError extends Error {
  override readonly name = 'AnalysisPoolError';
  /** A timeout or a failed worker may go away on another attempt; a closed pool will not. */
  readonly retryable: boolean;

  constructor(
    readonly code: AnalysisPoolErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.retryable = code !== 'pool_closed';
  }
}

type TaskName = 'analyse' | 'probe' | 'resize';

/** Abort reason for tasks stranded when the pool has no live thread left. */
class WorkerLost {
  constructor(readonly error: Error) {}
}

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

export function createAnalysisPool(options: AnalysisPoolOptions): AnalysisPool {
  const threads = positiveInteger('threads', options.threads);
  const taskTimeoutMs = positiveNumber('taskTimeoutMs', options.taskTimeoutMs);
  const minThreads = Math.min(threads, options.minThreads ?? 1);
  const onWorkerError = options.onWorkerError ?? ((error: Error) => process.emitWarning(error));

  const pool = new Tinypool({
    filename: options.workerUrl ?? defaultWorkerFile(),
    // Also the export tinypool looks up when a thread starts; with its default ('default') the
    // lookup misses and retries the import as a file path, which a data: URL is not.
    name: 'analyse',
    minThreads,
    maxThreads: threads,
    idleTimeout: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    useAtomics: options.useAtomics ?? typeof (globalThis as { Deno?: unknown }).Deno === 'undefined',
  });
  const inFlight = new Set<AbortController>();
  // When threads die at start-up (worker module cannot load), tinypool stops replacing them and
  // the tasks it still queues would each sit out their whole timeout. So after any thread death
  // that leaves no thread alive, the stranded tasks fail at once with the real error.
  function failStranded(error: Error): void {
    if (pool.threads.length > 0) return;
    for (const c of inFlight) if (!c.signal.aborted) c.abort(new WorkerLost(error));
  }
  // A thread that died holding no task is reported here. Without a listener, an EventEmitter
  // 'error' would take the whole process down.
  pool.on('error', (raw: unknown) => {
    const error = raw instanceof Error ? raw : new Error(String(raw));
    onWorkerError(error);
    failStranded(error);
  });

  // Our own slot accounting: tinypool's queue would let a task's timeout run while it waits.
  let running = 0;
  const waiting: Waiter[] = [];
  let closed = false;
  let completed = 0;
  const startedAt = performance.now();
  let busyThreadMs = 0;
  let lastChange = startedAt;

  function account(): void {
    const now = performance.now();
    busyThreadMs += running * (now - lastChange);
    lastChange = now;
  }

  function acquire(): Promise<void> {
    if (closed) return Promise.reject(closedError());
    if (running < threads) {
      account();
      running++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => waiting.push({ resolve, reject }));
  }

  function release(): void {
    const next = waiting.shift();
    // The slot passes straight to the next waiter, so `running` stays the same.
    if (next !== undefined) next.resolve();
    else {
      account();
      running--;
    }
  }

  async function submit<T>(name: TaskName, task: { bytes: ArrayBuffer }, timeoutMs: number): Promise<T> {
    await acquire();
    const controller = new AbortController();
    inFlight.add(controller);
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      return (await pool.run(task, { name, transferList: [task.bytes], signal: controller.signal })) as T;
    } catch (error) {
      if (closed) throw closedError(error);
      // Decided by our own signal, not by the error tinypool chose to report.
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : undefined;
      const cause = reason instanceof WorkerLost ? reason.error : error;
      if (controller.signal.aborted && !(reason instanceof WorkerLost)) {
        throw new AnalysisPoolError('timeout', `${name} timed out after ${timeoutMs} ms`, { cause });
      }
      const message = cause instanceof Error ? cause.message : String(cause);
      if (!controller.signal.aborted) failStranded(cause instanceof Error ? cause : new Error(message));
      throw new AnalysisPoolError('task_failed', `${name} failed in the worker: ${message}`, { cause });
    } finally {
      clearTimeout(timer);
      inFlight.delete(controller);
      completed++;
      release();
    }
  }

  function timeoutOf(limits: RunLimits | undefined): number {
    return limits?.timeoutMs === undefined ? taskTimeoutMs : positiveNumber('timeoutMs', limits.timeoutMs);
  }

  return {
    async analyse(bytes, analysisOptions, limits) {
      assertAnalysisOptions(analysisOptions);
      const timeoutMs = timeoutOf(limits);
      const task: AnalyseTask = { bytes: handOver(bytes), options: { ...analysisOptions } };
      try {
        return await submit<AnalysisOutcome>('analyse', task, timeoutMs);
      } catch (error) {
        if (!(error instanceof AnalysisPoolError) || error.code === 'pool_closed') throw error;
        const detail = error.code === 'timeout' ? `analysis timed out after ${timeoutMs} ms` : error.message;
        return { ok: false, reason: 'worker_crashed', detail };
      }
    },

    async probe(bytes, maxPixels, limits) {
      const task: ProbeTask = { bytes: handOver(bytes), maxPixels: positiveNumber('maxPixels', maxPixels) };
      return submit<ProbeResult>('probe', task, timeoutOf(limits));
    },

    async resize(bytes, maxWidth, maxHeight, maxPixels, limits) {
      const task: ResizeTask = {
        bytes: handOver(bytes),
        maxWidth: positiveInteger('maxWidth', maxWidth),
        maxHeight: positiveInteger('maxHeight', maxHeight),
        maxPixels: positiveNumber('maxPixels', maxPixels),
      };
      return submit<Uint8Array>('resize', task, timeoutOf(limits));
    },

    stats() {
      account();
      const elapsed = performance.now() - startedAt;
      return {
        threads: pool.threads.length,
        queued: waiting.length + pool.queueSize,
        completed,
        utilization: elapsed > 0 ? Math.min(1, busyThreadMs / (elapsed * threads)) : 0,
      };
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const w of waiting.splice(0)) w.reject(closedError());
      await pool.destroy();
    },
  };
}

/**
 * Bun and Deno run worker.ts in a worker thread as it is. Node 20 with tsx does not: tsx
 * registers its loader on the main thread only (it does so in workers from Node 22.22/24.11 on),
 * and the worker fails with ERR_UNKNOWN_FILE_EXTENSION. There the worker starts from a small
 * bootstrap module that imports worker.ts and, if .ts cannot be loaded, registers tsx inside
 * the worker and imports it again. The first try uses a distinct URL because Node caches a
 * failed import per URL.
 */
function defaultWorkerFile(): string {
  const worker = workerModuleUrl();
  if (process.versions.bun !== undefined || process.versions.deno !== undefined || !worker.endsWith('.ts')) return worker;
  let tsxApi: string;
  try {
    tsxApi = import.meta.resolve('tsx/esm/api');
  } catch {
    return worker; // no tsx to lend the worker: let the import report what is missing
  }
  const source = [
    `let m;`,
    `try { m = await import(${JSON.stringify(`${worker}?bootstrap`)}); }`,
    `catch (e) {`,
    `  if (e?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw e;`,
    `  (await import(${JSON.stringify(tsxApi)})).register();`,
    `  m = await import(${JSON.stringify(worker)});`,
    `}`,
    `export const analyse = m.analyse, probe = m.probe, resize = m.resize;`,
  ].join('\n');
  return `data:text/javascript,${encodeURIComponent(source)}`;
}

function closedError(cause?: unknown): AnalysisPoolError {
  return new AnalysisPoolError('pool_closed', 'analysis pool is closed', cause === undefined ? undefined : { cause });
}

/**
 * The worker gets the bytes without a copy when they own their whole ArrayBuffer; a view on a
 * larger buffer (Node's Buffer pool, a slice) or on shared memory cannot be transferred without
 * breaking its neighbours, so it is copied into a fresh buffer first.
 */
function handOver(bytes: Uint8Array): ArrayBuffer {
  const buffer = bytes.buffer;
  if (buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength) return buffer;
  // new Uint8Array(view) copies; Buffer#slice would not.
  return new Uint8Array(bytes).buffer;
}

function assertAnalysisOptions(o: AnalysisOptions): void {
  positiveNumber('maxPixels', o.maxPixels);
  for (const key of ['minSide', 'darkMean', 'brightClipShare', 'blurVariance', 'minMegapixels'] as const) {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new RangeError(`analysis option ${key} must be a non-negative number, got ${String(v)}`);
    }
  }
}

function positiveNumber(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive number, got ${String(v)}`);
  return v;
}

function positiveInteger(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${String(v)}`);
  return v;
}
