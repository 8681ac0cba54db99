// The durable job queue: enqueue inside the caller's transaction, claim with a lease in one
// statement, finish or fail fenced by the lease token, recover leases of a dead process.
import { randomUUID } from 'node:crypto';
import type { Database } from '../db/driver.ts';
import { backoffDelay, type BackoffPolicy } from './backoff.ts';

export type JobState = 'queued' | 'running' | 'done' | 'failed';

export interface Job {
  id: number;
  kind: string;
  payload: string;
  state: JobState;
  run_at: number;
  attempts: number;
  max_attempts: number;
  lease_token: string;
  lease_expires_at: number;
  last_error: string | null;
}

export interface NewJob {
  kind: string;
  payload: unknown;
  maxAttempts: number;
  runAt?: number;
}

/** The job's lease was lost (expired and taken over): its result must not be stored. */
export class LeaseLostError extends Error {
  readonly code = 'lease_lost';
  readonly retryable = false;
  constructor(jobId: number) {
    super(`job ${jobId}: lease lost before the result could be stored`);
    this.name = 'LeaseLostError';
  }
}

/** Call inside the transaction that creates the work, so the job exists exactly when it does. */
export function enqueue(db: Database, job: NewJob, now: number): number {
  return db
    .prepare(
      `INSERT INTO jobs (kind, payload, state, run_at, attempts, max_attempts, created_at, updated_at)
       VALUES (?, ?, 'queued', ?, 0, ?, ?, ?)`,
    )
    .run(job.kind, JSON.stringify(job.payload), job.runAt ?? now, job.maxAttempts, now, now).lastInsertRowid;
}

/**
 * Takes the next due job (or one whose lease expired) and leases it to a fresh token.
 * One UPDATE ... RETURNING under the write lock: two claimers can never get the same job.
 */
export function claim(db: Database, now: number, leaseMs: number): Job | undefined {
  return db
    .prepare(
      `UPDATE jobs
          SET state = 'running', attempts = attempts + 1, lease_token = ?, lease_expires_at = ?, updated_at = ?
        WHERE id = (SELECT id FROM jobs
                     WHERE (state = 'queued' AND run_at <= ?) OR (state = 'running' AND lease_expires_at <= ?)
                     ORDER BY run_at, id LIMIT 1)
        RETURNING id, kind, payload, state, run_at, attempts, max_attempts, lease_token, lease_expires_at, last_error`,
    )
    .get<Job>(randomUUID(), now + leaseMs, now, now, now);
}

/** Earliest time a queued job becomes due or a lease expires, for sleeping until then. */
export function nextDueAt(db: Database): number | undefined {
  const row = db
    .prepare(
      `SELECT MIN(at) AS at FROM (SELECT MIN(run_at) AS at FROM jobs WHERE state = 'queued'
                                  UNION ALL SELECT MIN(lease_expires_at) FROM jobs WHERE state = 'running')`,
    )
    .get<{ at: number | null }>();
  return row?.at ?? undefined;
}

/** Marks the job done if this claim still holds it; throws LeaseLostError otherwise. */
export function complete(db: Database, job: Job, now: number): void {
  const { changes } = db
    .prepare(
      `UPDATE jobs SET state = 'done', lease_token = NULL, lease_expires_at = NULL, finished_at = ?, updated_at = ?
        WHERE id = ? AND state = 'running' AND lease_token = ?`,
    )
    .run(now, now, job.id, job.lease_token);
  if (changes !== 1) throw new LeaseLostError(job.id);
}

export type FailOutcome = { state: 'queued'; runAt: number } | { state: 'failed' };

/**
 * Records a failed attempt: back to the queue after a back-off, or failed for good when the
 * error is permanent or the attempts are used up. Fenced like complete().
 */
export function fail(
  db: Database,
  job: Job,
  error: { message: string; retryable: boolean },
  now: number,
  policy: BackoffPolicy,
  random: () => number,
): FailOutcome {
  const giveUp = !error.retryable || job.attempts >= job.max_attempts;
  const runAt = now + backoffDelay(job.attempts, policy, random);
  const { changes } = db
    .prepare(
      `UPDATE jobs SET state = ?, run_at = ?, last_error = ?, lease_token = NULL, lease_expires_at = NULL,
                       finished_at = ?, updated_at = ?
        WHERE id = ? AND state = 'running' AND lease_token = ?`,
    )
    .run(
      giveUp ? 'failed' : 'queued',
      giveUp ? job.run_at : runAt,
      error.message.slice(0, 2000),
      giveUp ? now : null,
      now,
      job.id,
      job.lease_token,
    );
  if (changes !== 1) throw new LeaseLostError(job.id);
  return giveUp ? { state: 'failed' } : { state: 'queued', runAt };
}

/** Pushes the lease of a long job forward; false when it was already lost. */
export function extendLease(db: Database, job: Job, now: number, leaseMs: number): boolean {
  const expires = now + leaseMs;
  const { changes } = db
    .prepare(`UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE id = ? AND state = 'running' AND lease_token = ?`)
    .run(expires, now, job.id, job.lease_token);
  if (changes === 1) job.lease_expires_at = expires;
  return changes === 1;
}

/** Gives a job back without spending its attempt (a shutdown interrupted it). */
export function releaseLease(db: Database, job: Job, now: number): void {
  db.prepare(
    `UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_token = NULL, lease_expires_at = NULL, updated_at = ?
      WHERE id = ? AND state = 'running' AND lease_token = ?`,
  ).run(now, job.id, job.lease_token);
}

/**
 * Puts running jobs whose lease expired back in the queue. With `everyLease`, every running job
 * is put back: used at start, when this process holds the database alone, so no lease is alive.
 * The attempt a dead process used stays counted, so a photo that kills the process each time
 * runs out of attempts (the runner then gives up on it) instead of crashing the bot forever.
 */
export function recoverLeases(db: Database, now: number, everyLease = false): number {
  return db
    .prepare(
      `UPDATE jobs SET state = 'queued', last_error = 'the process running attempt ' || attempts || ' stopped',
                       lease_token = NULL, lease_expires_at = NULL, run_at = ?, updated_at = ?
        WHERE state = 'running' AND (? OR lease_expires_at <= ?)`,
    )
    .run(now, now, everyLease ? 1 : 0, now).changes;
}

export function countByState(db: Database): Record<JobState, number> {
  const counts: Record<JobState, number> = { queued: 0, running: 0, done: 0, failed: 0 };
  for (const row of db.prepare('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state').all<{ state: JobState; n: number }>()) {
    counts[row.state] = row.n;
  }
  return counts;
}
