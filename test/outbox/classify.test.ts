import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifySendFailure } from '../../src/outbox/classify.ts';
import { RateLimiter } from '../../src/outbox/rate-limit.ts';
import { splitText } from '../../src/outbox/split.ts';
import { manualClock } from '../helpers/db.ts';

const decide = (vkCode: number | null) => classifySendFailure({ vkCode, message: 'x' });

describe('VK error classification for messages.send', () => {
  it('retries soon on rate limits, internal errors and transport failures', () => {
    for (const code of [6, 10, 1, null]) assert.deepEqual(decide(code), { action: 'retry', backoff: 'short' }, `code ${code}`);
  });
  it('backs off long on flood control and on a rejected token', () => {
    assert.deepEqual(decide(9), { action: 'retry', backoff: 'long' });
    assert.deepEqual(decide(5), { action: 'retry', backoff: 'long' });
  });
  it('marks users who do not accept messages as undeliverable', () => {
    for (const code of [901, 902, 7]) assert.deepEqual(decide(code), { action: 'undeliverable' });
  });
  it('splits on 914 (message too long)', () => {
    assert.deepEqual(decide(914), { action: 'split' });
  });
  it('fails on other VK errors (e.g. 100, bad parameters) instead of retrying forever', () => {
    assert.deepEqual(decide(100), { action: 'fail' });
  });
});

describe('splitText', () => {
  it('keeps short text whole', () => {
    assert.deepEqual(splitText('hello', 10), ['hello']);
    assert.deepEqual(splitText('', 10), ['']);
  });
  it('cuts at paragraph, line or word boundaries and loses no words', () => {
    const text = Array.from({ length: 50 }, (_, i) => `Фото ${i}: строка с выводами.\n\nИтог: ok`).join('\n\n');
    const parts = splitText(text, 300);
    assert.ok(parts.length > 1);
    for (const p of parts) assert.ok(p.length <= 300, `part of ${p.length}`);
    assert.equal(parts.join(' ').split(/\s+/).join(' '), text.split(/\s+/).join(' '));
  });
  it('cuts a word longer than the limit', () => {
    assert.deepEqual(splitText('a'.repeat(25), 10), ['a'.repeat(10), 'a'.repeat(10), 'a'.repeat(5)]);
  });
});

describe('RateLimiter', () => {
  it('never lets more than N starts into any 1000 ms window', async () => {
    const clock = manualClock(0);
    const limiter = new RateLimiter(20, clock);
    const starts: number[] = [];
    const all = Array.from({ length: 50 }, () => limiter.take().then(() => starts.push(clock.now())));
    for (let t = 0; t < 3000 && starts.length < 50; t += 10) {
      await new Promise((r) => setImmediate(r));
      clock.advance(10);
    }
    await Promise.all(all);
    assert.equal(starts.length, 50);
    for (let i = 20; i < starts.length; i += 1) {
      assert.ok((starts[i] ?? 0) - (starts[i - 20] ?? 0) >= 1000, `start ${i} at ${starts[i]} within 1 s of start ${i - 20}`);
    }
    assert.equal(starts.filter((s) => s === 0).length, 20, 'the first 20 go at once');
  });
});

describe('message parts', () => {
  it('derives a stable random_id per part, distinct between parts', async () => {
    const { nextPart } = await import('../../src/outbox/store.ts');
    const row = { id: 1, peer_id: 1, random_id: 12345, message: 'a'.repeat(25), part_limit: 10, sent_chars: 0, purpose: 'result' as const, application_id: null, attempts: 0 };
    const p0 = nextPart(row);
    assert.deepEqual({ ...p0 }, { text: 'a'.repeat(10), randomId: 12345, sentCharsAfter: 10, isLast: false });
    const p1 = nextPart({ ...row, sent_chars: 10 });
    const p1again = nextPart({ ...row, sent_chars: 10, attempts: 3 });
    assert.equal(p1.randomId, p1again.randomId, 'a part retried after a crash keeps its random_id');
    assert.notEqual(p1.randomId, p0.randomId);
    assert.ok(p1.randomId > 0 && p1.randomId < 2 ** 31);
    assert.equal(nextPart({ ...row, sent_chars: 20 }).isLast, true);
  });
  it('never cuts an emoji in half', () => {
    const text = 'ab😀cd';
    for (let limit = 1; limit <= text.length; limit += 1) {
      for (const part of splitText(text, Math.max(limit, 2))) assert.ok(!/[\uD800-\uDBFF]$/.test(part), `limit ${limit}: ${part}`);
    }
  });
});
