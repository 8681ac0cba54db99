// The claim loop: keeps up to N jobs running, woken at once by new work, with a poll as the
// fallback; stores each outcome in one transaction fenced by the job's lease.
import type { Clock } from '../clock.ts';
import type { Database } from '../db/driver.ts';
import type { Logger } from '../log.ts';
import type { BackoffPolicy } from './backoff.ts';
import { claim, complete, extendLease, fail, LeaseLostError, nextDueAt, releaseLease, type Job } from './jobs.ts';
import { Wakeup } from './wakeup.ts';

/** An error a job handler throws; `retryable` decides between back-off and giving up. */
export interface JobFailure {
  message: string;
  retryable: boolean;
  /** Machine-readable cause the handler understands (e.g. a failure reason to report). */
  code?: string;
}

export interface JobHandler {
  /**
   * Does the slow work outside any transaction and returns the function that stores its
   * result; the runner calls that inside the transaction that completes the job.
   */
  run(job: Job, signal: AbortSignal): Promise<(now: number) => void>;
  /** Inside the transaction that fails the job for good: record the failure for the user. */
  giveUp(job: Job, failure: JobFailure, now: number): void;
}

export interface RunnerOptions {
  concurrency: number;
  leaseMs: number;
  /** Fallback poll when nothing signals new work (e.g. a retry becoming due). */
  pollMs: number;
  backoff: BackoffPolicy;
}

export interface RunnerDeps {
  db: Database;
  clock: Clock;
  log: Logger;
  random: () => number;
  handlers: Record<string, JobHandler>;
}

export interface RunnerStats {
  running: number;
  completed: number;
  retried: number;
  failed: number;
}

function toFailure(error: unknown): JobFailure {
  if (error && typeof error === 'object' && 'retryable' in error && 'message' in error) {
    const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
    return { message: String(error.message), retryable: Boolean(error.retryable), ...(code ? { code } : {}) };
  }
  // Unknown errors are bugs or environment trouble: retry, the attempt limit bounds it.
  return { message: error instanceof Error ? error.message : String(error), retryable: true };
}

export class JobRunner {
  private readonly wakeup = new Wakeup();
  private readonly inFlight = new Map<number, { abort: AbortController; done: Promise<void> }>();
  private readonly stats: RunnerStats = { running: 0, completed: 0, retried: 0, failed: 0 };
  private stopping = false;
  private loop: Promise<void> | undefined;
  private slotFreed: (() => void) | undefined;

  constructor(
    private readonly deps: RunnerDeps,
    private readonly options: RunnerOptions,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** New jobs were committed: claim them now rather than at the next poll. */
  notify(): void {
    this.wakeup.notify();
  }

  snapshot(): RunnerStats {
    return { ...this.stats, running: this.inFlight.size };
  }

  /**
   * Stops claiming, lets running jobs finish until the deadline, then aborts the rest; their
   * leases are released so the next start picks them up without waiting for expiry.
   */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    this.wakeup.notify();
    this.slotFreed?.();
    const all = Promise.all([...this.inFlight.values()].map((f) => f.done));
    let timedOut = false;
    await Promise.race([all, this.deps.clock.sleep(deadlineMs).then(() => (timedOut = true))]);
    if (timedOut) {
      for (const f of this.inFlight.values()) f.abort.abort(new Error('shutting down'));
      await all;
    }
    await this.loop;
  }

  private async run(): Promise<void> {
    const { clock, log } = this.deps;
    while (!this.stopping) {
      try {
        if (this.inFlight.size >= this.options.concurrency) {
          await new Promise<void>((resolve) => (this.slotFreed = resolve));
          continue;
        }
        const job = claim(this.deps.db, clock.now(), this.options.leaseMs);
        if (job) {
          this.launch(job);
          continue;
        }
        const due = nextDueAt(this.deps.db);
        const wait = due === undefined ? this.options.pollMs : Math.min(this.options.pollMs, Math.max(due - clock.now(), 0));
        await this.wakeup.wait(wait, clock.setTimer);
      } catch (error) {
        // SQLITE_BUSY or a full disk: keep the loop alive and try again shortly.
        log.error('job claim failed; retrying', { error });
        await this.wakeup.wait(this.options.pollMs, clock.setTimer);
      }
    }
  }

  private launch(job: Job): void {
    const abort = new AbortController();
    const done = this.execute(job, abort.signal).finally(() => {
      this.inFlight.delete(job.id);
      const freed = this.slotFreed;
      this.slotFreed = undefined;
      freed?.();
    });
    this.inFlight.set(job.id, { abort, done });
  }

  private async execute(job: Job, signal: AbortSignal): Promise<void> {
    const { db, clock, log, handlers } = this.deps;
    const handler = handlers[job.kind];
    const heartbeat = this.heartbeat(job);
    try {
      if (!handler) {
        this.settleFailure(job, undefined, { message: `no handler for job kind ${job.kind}`, retryable: false });
        return;
      }
      if (job.attempts > job.max_attempts) {
        // Every earlier attempt ended with the process dying mid-job: do not run it again.
        this.settleFailure(job, handler, {
          message: `stopped ${job.max_attempts} times while running (the process or worker died)`,
          retryable: false,
        });
        return;
      }
      let store: (now: number) => void;
      try {
        store = await handler.run(job, signal);
      } catch (error) {
        if (signal.aborted) {
          releaseLease(this.deps.db, job, clock.now());
          return;
        }
        this.settleFailure(job, handler, toFailure(error));
        return;
      }
      db.transaction(() => {
        const now = clock.now();
        store(now);
        complete(db, job, now);
      });
      this.stats.completed += 1;
    } catch (error) {
      if (error instanceof LeaseLostError) {
        log.warn('job lease lost; another claim owns it now', { job: job.id });
      } else {
        // Could not store (busy, disk full): the lease expires and the job runs again.
        log.error('job outcome could not be stored; it will run again', { job: job.id, error });
      }
    } finally {
      heartbeat();
    }
  }

  private settleFailure(job: Job, handler: JobHandler | undefined, failure: JobFailure): void {
    const { db, clock, log, random } = this.deps;
    const outcome = db.transaction(() => {
      const now = clock.now();
      const result = fail(db, job, failure, now, this.options.backoff, random);
      if (result.state === 'failed') handler?.giveUp(job, failure, now);
      return result;
    });
    if (outcome.state === 'failed') {
      this.stats.failed += 1;
      log.warn('job failed for good', { job: job.id, kind: job.kind, attempts: job.attempts, error: failure.message });
    } else {
      this.stats.retried += 1;
      log.info('job will be retried', { job: job.id, attempt: job.attempts, in_ms: outcome.runAt - clock.now(), error: failure.message });
    }
  }

  private heartbeat(job: Job): () => void {
    const { db, clock, log } = this.deps;
    const every = Math.max(Math.floor(this.options.leaseMs / 3), 10);
    let cancel = clock.setTimer(function beat(this: void) {
      try {
        extendLease(db, job, clock.now(), every * 3);
      } catch (error) {
        log.warn('could not extend a job lease', { job: job.id, error });
      }
      cancel = clock.setTimer(beat, every);
    }, every);
    return () => cancel();
  }
}
