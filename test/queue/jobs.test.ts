import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backoffDelay } from '../../src/queue/backoff.ts';
import { claim, complete, enqueue, extendLease, fail, LeaseLostError, recoverLeases } from '../../src/queue/jobs.ts';
import { tempDb, type TempDb } from '../helpers/db.ts';

const policy = { baseMs: 1000, capMs: 60_000 };

describe('durable job queue', () => {
  let t: TempDb;
  before(() => {
    t = tempDb();
  });
  after(() => t.cleanup());

  it('claims due jobs in order, never before run_at, each once', () => {
    const { db } = t;
    db.exec('DELETE FROM jobs');
    const a = db.transaction(() => enqueue(db, { kind: 'k', payload: { n: 1 }, maxAttempts: 3 }, 1000));
    const b = db.transaction(() => enqueue(db, { kind: 'k', payload: { n: 2 }, maxAttempts: 3, runAt: 5000 }, 1000));
    const first = claim(db, 1000, 10_000);
    assert.equal(first?.id, a);
    assert.equal(first?.attempts, 1);
    assert.equal(claim(db, 1000, 10_000), undefined, 'b is not due yet, a is leased');
    assert.equal(claim(db, 5000, 10_000)?.id, b);
  });

  it('fences completion by the lease token: a stale claim cannot complete', () => {
    const { db } = t;
    db.exec('DELETE FROM jobs');
    db.transaction(() => enqueue(db, { kind: 'k', payload: {}, maxAttempts: 3 }, 0));
    const stale = claim(db, 0, 100);
    assert.ok(stale);
    // The lease expires; recovery puts the job back and a new claim takes it.
    assert.equal(recoverLeases(db, 200), 1);
    const fresh = claim(db, 200, 100);
    assert.ok(fresh);
    assert.notEqual(fresh.lease_token, stale.lease_token);
    assert.equal(fresh.attempts, 2, 'the dead attempt stays counted');
    assert.throws(() => complete(db, stale, 250), LeaseLostError);
    assert.throws(() => fail(db, stale, { message: 'x', retryable: true }, 250, policy, () => 0.5), LeaseLostError);
    assert.equal(extendLease(db, stale, 250, 100), false);
    complete(db, fresh, 250);
    const row = db.prepare('SELECT state, finished_at FROM jobs').get<{ state: string; finished_at: number }>();
    assert.deepEqual(row, { state: 'done', finished_at: 250 });
  });

  it('does not recover a lease that has not expired, unless told every lease is dead', () => {
    const { db } = t;
    db.exec('DELETE FROM jobs');
    db.transaction(() => enqueue(db, { kind: 'k', payload: {}, maxAttempts: 3 }, 0));
    const job = claim(db, 0, 1000);
    assert.ok(job);
    assert.equal(recoverLeases(db, 500), 0);
    assert.ok(extendLease(db, job, 900, 1000));
    assert.equal(recoverLeases(db, 1500), 0, 'the extended lease is still alive at 1500');
    assert.equal(recoverLeases(db, 1500, true), 1);
    assert.equal(db.prepare('SELECT state FROM jobs').get<{ state: string }>()?.state, 'queued');
  });

  it('retries with capped exponential back-off, then fails for good', () => {
    const { db } = t;
    db.exec('DELETE FROM jobs');
    db.transaction(() => enqueue(db, { kind: 'k', payload: {}, maxAttempts: 3 }, 0));
    let now = 0;
    const delays: number[] = [];
    for (let i = 1; i <= 3; i += 1) {
      const job = claim(db, now, 1000);
      assert.ok(job, `attempt ${i} claimed`);
      const out = fail(db, job, { message: `boom ${i}`, retryable: true }, now, policy, () => 1);
      if (i < 3) {
        assert.equal(out.state, 'queued');
        if (out.state === 'queued') {
          delays.push(out.runAt - now);
          assert.equal(claim(db, out.runAt - 1, 1000), undefined, 'not claimable before its back-off ends');
          now = out.runAt;
        }
      } else {
        assert.equal(out.state, 'failed');
      }
    }
    assert.deepEqual(delays, [1000, 2000]);
    const row = db.prepare('SELECT state, last_error, attempts FROM jobs').get();
    assert.deepEqual(row, { state: 'failed', last_error: 'boom 3', attempts: 3 });
  });

  it('fails at once on a permanent error', () => {
    const { db } = t;
    db.exec('DELETE FROM jobs');
    db.transaction(() => enqueue(db, { kind: 'k', payload: {}, maxAttempts: 5 }, 0));
    const job = claim(db, 0, 1000);
    assert.ok(job);
    assert.deepEqual(fail(db, job, { message: 'bad input', retryable: false }, 0, policy, Math.random), { state: 'failed' });
  });

  it('back-off doubles, is capped, and keeps half its step as the floor of the jitter', () => {
    assert.equal(backoffDelay(1, policy, () => 0), 500);
    assert.equal(backoffDelay(1, policy, () => 1), 1000);
    assert.equal(backoffDelay(4, policy, () => 1), 8000);
    assert.equal(backoffDelay(30, policy, () => 1), 60_000);
    assert.equal(backoffDelay(30, policy, () => 0), 30_000);
    for (let i = 0; i < 100; i += 1) {
      const d = backoffDelay(3, policy, Math.random);
      assert.ok(d >= 2000 && d <= 4000, `jittered delay ${d} within [2000, 4000]`);
    }
  });

  it('two claimers on two connections never take the same job', async () => {
    const { db, path } = t;
    db.exec('DELETE FROM jobs');
    db.transaction(() => {
      for (let i = 0; i < 200; i += 1) enqueue(db, { kind: 'k', payload: { i }, maxAttempts: 1 }, 0);
    });
    const { openDatabase } = await import('../../src/db/driver.ts');
    const other = openDatabase(path, { busyTimeoutMs: 5000 });
    const seen = new Set<number>();
    for (let i = 0; i < 100; i += 1) {
      for (const conn of [db, other]) {
        const job = claim(conn, 0, 1000);
        assert.ok(job);
        assert.ok(!seen.has(job.id), `job ${job.id} claimed twice`);
        seen.add(job.id);
      }
    }
    other.close();
    assert.equal(seen.size, 200);
  });
});

describe('expired leases while running', () => {
  it('a job whose lease expired is claimed again without a restart, under a new token', () => {
    const t = tempDb();
    try {
      const { db } = t;
      db.transaction(() => enqueue(db, { kind: 'k', payload: {}, maxAttempts: 5 }, 0));
      const first = claim(db, 0, 100);
      assert.ok(first);
      assert.equal(claim(db, 50, 100), undefined, 'the lease is alive at 50');
      const again = claim(db, 100, 100);
      assert.ok(again, 'taken again once the lease expired');
      assert.equal(again.id, first.id);
      assert.equal(again.attempts, 2);
      assert.throws(() => complete(db, first, 120), LeaseLostError);
      complete(db, again, 120);
    } finally {
      t.cleanup();
    }
  });
});
