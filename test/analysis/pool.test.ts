// The pool facade itself: hand-over of bytes, timeouts that kill a thread, survival afterwards, stats, close.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { AnalysisPoolError, createAnalysisPool } from '../../src/analysis/pool.ts';
import { corpusFile, encodePng, markerScene, sharedSkipReason, TEST_OPTIONS as OPTIONS } from './fixtures.ts';

const SLOW = { timeout: 120_000 };

/** A small valid PNG made here, so these tests do not depend on the shared fixtures. */
function smallPng(): Uint8Array {
  return encodePng(96, 64, 3, markerScene(96, 64));
}

describe('analysis pool', () => {
  it('transfers a buffer it can own, and copies a view on a larger buffer', SLOW, async () => {
    const pool = createAnalysisPool({ threads: 1, taskTimeoutMs: 30_000 });
    try {
      const owned = smallPng();
      assert.equal((await pool.analyse(owned, OPTIONS)).ok, true);
      assert.equal(owned.byteLength, 0, 'ownership passed to the worker: the caller’s view is detached');

      const png = smallPng();
      const big = new Uint8Array(png.length + 100);
      big.set(png, 50);
      const view = big.subarray(50, 50 + png.length);
      assert.equal((await pool.analyse(view, OPTIONS)).ok, true);
      assert.equal(big.byteLength, png.length + 100, 'the larger buffer is untouched');
      assert.deepEqual([...view.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    } finally {
      await pool.close();
    }
  });

  it('a task over its time limit is reported as worker_crashed, its thread replaced, and the pool keeps serving', { ...SLOW, skip: sharedSkipReason() }, async () => {
    const pool = createAnalysisPool({ threads: 1, taskTimeoutMs: 60_000 });
    try {
      assert.equal((await pool.analyse(smallPng(), OPTIONS)).ok, true, 'warm: the thread is up');
      const t0 = performance.now();
      const r = await pool.analyse(corpusFile('phone_jolla.jpg'), OPTIONS, { timeoutMs: 3 });
      assert.ok(performance.now() - t0 < 5_000, 'the caller is answered at the deadline, not when the work ends');
      assert.deepEqual(r, { ok: false, reason: 'worker_crashed', detail: 'analysis timed out after 3 ms' });
      // The killed thread is replaced; the next photos are analysed normally.
      for (let i = 0; i < 3; i++) {
        const next = await pool.analyse(corpusFile('phone_jolla.jpg'), OPTIONS);
        assert.equal(next.ok, true, `after the timeout, photo ${i}`);
      }
      assert.ok(pool.stats().threads >= 1);
    } finally {
      await pool.close();
    }
  });

  it('a worker module that cannot start fails every call at once with the reason, not after the time limit', SLOW, async () => {
    const errors: Error[] = [];
    const pool = createAnalysisPool({
      threads: 2,
      taskTimeoutMs: 60_000,
      workerUrl: new URL('./no-such-worker.ts', import.meta.url).href,
      onWorkerError: (e) => errors.push(e),
    });
    try {
      for (let round = 0; round < 3; round++) {
        const t0 = performance.now();
        const results = await Promise.all([pool.analyse(smallPng(), OPTIONS), pool.analyse(smallPng(), OPTIONS)]);
        assert.ok(performance.now() - t0 < 20_000, `round ${round} took ${performance.now() - t0} ms`);
        for (const r of results) {
          assert.equal(r.ok ? 'ok' : r.reason, 'worker_crashed');
          if (!r.ok) assert.match(r.detail, /no-such-worker/);
        }
      }
      assert.ok(errors.length > 0, 'start-up failures reach onWorkerError');
    } finally {
      await pool.close();
    }
  });

  it('runs more photos than threads, queueing the rest, and counts them', SLOW, async () => {
    const pool = createAnalysisPool({ threads: 2, taskTimeoutMs: 30_000 });
    try {
      const pending = Array.from({ length: 7 }, () => pool.analyse(smallPng(), OPTIONS));
      const queuedWhileBusy = pool.stats().queued;
      const results = await Promise.all(pending);
      assert.ok(results.every((r) => r.ok));
      assert.ok(queuedWhileBusy >= 5, `queued ${queuedWhileBusy}`);
      const s = pool.stats();
      assert.equal(s.completed, 7);
      assert.equal(s.queued, 0);
      assert.ok(s.threads >= 1 && s.threads <= 2);
      assert.ok(s.utilization > 0 && s.utilization <= 1, `utilization ${s.utilization}`);
    } finally {
      await pool.close();
    }
  });

  it('rejects invalid options up front instead of sending them to a worker', async () => {
    const pool = createAnalysisPool({ threads: 1, taskTimeoutMs: 30_000 });
    try {
      await assert.rejects(pool.analyse(smallPng(), { ...OPTIONS, maxPixels: 0 }), RangeError);
      await assert.rejects(pool.analyse(smallPng(), { ...OPTIONS, minSide: Number.NaN }), RangeError);
      await assert.rejects(pool.resize(smallPng(), 0, 10, 1000), RangeError);
      assert.throws(() => createAnalysisPool({ threads: 0, taskTimeoutMs: 1 }), RangeError);
      assert.equal(pool.stats().completed, 0);
    } finally {
      await pool.close();
    }
  });

  it('after close, calls reject with pool_closed (not a crash outcome the caller would store)', SLOW, async () => {
    const pool = createAnalysisPool({ threads: 1, taskTimeoutMs: 30_000 });
    // Settled handlers are attached before closing: the waiting call rejects during close().
    const settled = Promise.allSettled([pool.analyse(smallPng(), OPTIONS), pool.analyse(smallPng(), OPTIONS)]);
    await pool.close();
    const [running, waiting] = await settled;
    assert.equal(waiting?.status, 'rejected');
    for (const s of [running!, waiting!]) {
      if (s.status === 'fulfilled') assert.equal(s.value.ok, true, 'finished before the close');
      else assert.ok(s.reason instanceof AnalysisPoolError && s.reason.code === 'pool_closed' && !s.reason.retryable, String(s.reason));
    }
    await assert.rejects(pool.analyse(smallPng(), OPTIONS), (e: unknown) => e instanceof AnalysisPoolError && e.code === 'pool_closed');
    await pool.close(); // idempotent
  });
});
