// The outbox sender against the sandbox through the real vk-io: VK errors, transport faults,
// random_id reuse, undeliverable users, long texts, per-peer order and the rate limit.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/clock.ts';
import { createLogger } from '../../src/log.ts';
import { RateLimiter } from '../../src/outbox/rate-limit.ts';
import { OutboxSender } from '../../src/outbox/sender.ts';
import { queueMessage } from '../../src/outbox/store.ts';
import { createVkClient, type VkClient } from '../../src/vk/client.ts';
import { tempDb, type TempDb } from '../helpers/db.ts';
import { SandboxClient } from '../helpers/sandbox-client.ts';
import { startHarness, type Harness } from '../sandbox/harness.ts';

const TOKEN = 'sender-test-token-1234';

describe('outbox sender against the sandbox', () => {
  let h: Harness;
  let t: TempDb;
  let vk: VkClient;
  let sender: OutboxSender;
  let user: SandboxClient;
  let nextPeer = 500_000;
  const logLines: string[] = [];

  before(async () => {
    h = await startHarness({ textLimit: 300 });
    t = tempDb();
    user = new SandboxClient(h.sandbox.baseUrl);
    vk = createVkClient({ token: TOKEN, apiUrl: h.sandbox.apiUrl, groupId: h.sandbox.groupId, requestsPerSecond: 20, apiTimeoutMs: 1000 });
    const clock = systemClock();
    sender = new OutboxSender(
      {
        db: t.db,
        clock,
        log: createLogger({ level: 'debug', json: true, write: (l) => logLines.push(l), now: Date.now, secrets: [TOKEN] }),
        random: Math.random,
        transport: vk.transport,
        limiter: new RateLimiter(20, clock),
      },
      {
        concurrency: 8,
        pollMs: 200,
        shortBackoff: { baseMs: 20, capMs: 100 },
        longBackoff: { baseMs: 400, capMs: 400 },
        maxAttempts: 6,
      },
    );
    sender.start();
  });

  after(async () => {
    await sender.stop(0);
    vk.close();
    t.cleanup();
    await h.close();
  });

  /** A user who wrote to the community, so VK lets the bot answer. */
  async function newUser(): Promise<number> {
    nextPeer += 1;
    await user.send({ from_id: nextPeer, text: 'привет' });
    return nextPeer;
  }

  function queue(peer: number, message: string, purpose: 'ack' | 'result' = 'ack'): number {
    const id = t.db.transaction(() => queueMessage(t.db, { peerId: peer, message, purpose, applicationId: null }, 4000, Date.now(), Math.random));
    sender.notify();
    return id;
  }

  function row(id: number) {
    return t.db.prepare('SELECT state, attempts, random_id, last_error_code, next_attempt_at FROM outbox WHERE id = ?').get<{
      state: string;
      attempts: number;
      random_id: number;
      last_error_code: number | null;
      next_attempt_at: number;
    }>(id);
  }

  async function settled(id: number, timeoutMs = 15_000) {
    const until = Date.now() + timeoutMs;
    while (row(id)?.state === 'pending') {
      if (Date.now() > until) throw new Error(`outbox ${id} still pending: ${JSON.stringify(row(id))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return row(id);
  }

  async function sendsFor(peer: number) {
    return (await user.calls('messages.send')).filter((c) => c.params.peer_id === String(peer));
  }

  it('retries VK error 10 with the same random_id until it goes through, shown once', async () => {
    const peer = await newUser();
    await user.fault({ method: 'messages.send', error_code: 10, count: 3 });
    const id = queue(peer, 'после ошибки 10');
    assert.equal((await settled(id))?.state, 'sent');
    const calls = await sendsFor(peer);
    assert.equal(calls.length, 4);
    assert.equal(new Set(calls.map((c) => c.params.random_id)).size, 1, 'one random_id for every attempt');
    assert.equal(calls[0]?.params.random_id, String(row(id)?.random_id));
    assert.equal((await user.botMessages(peer)).length, 1);
  });

  it('retries HTTP 5xx answers', async () => {
    const peer = await newUser();
    await user.fault({ method: 'messages.send', http_status: 502, count: 2 });
    const id = queue(peer, 'после 502');
    assert.equal((await settled(id))?.state, 'sent');
    assert.equal((await user.botMessages(peer)).length, 1);
  });

  it('a slow answer past the client timeout is retried, and VK drops the repeat by random_id', async () => {
    const peer = await newUser();
    await user.fault({ method: 'messages.send', delay_ms: 2500, count: 1 });
    const id = queue(peer, 'медленный ответ');
    assert.equal((await settled(id))?.state, 'sent');
    await new Promise((r) => setTimeout(r, 2000)); // the slow call completes late on the server
    const calls = await sendsFor(peer);
    assert.ok(calls.length >= 2, 'the timed-out call was repeated');
    assert.equal(new Set(calls.map((c) => c.params.random_id)).size, 1);
    assert.deepEqual((await user.botMessages(peer)).map((m) => m.text), ['медленный ответ'], 'the user sees it once');
  });

  it('absorbs error 6 (too many requests)', async () => {
    const peer = await newUser();
    await user.fault({ method: 'messages.send', error_code: 6, count: 2 });
    const id = queue(peer, 'после ошибки 6');
    assert.equal((await settled(id))?.state, 'sent');
    assert.equal((await user.botMessages(peer)).length, 1);
  });

  it('backs off long after flood control (9)', async () => {
    const peer = await newUser();
    await user.fault({ method: 'messages.send', error_code: 9, count: 1 });
    const before = Date.now();
    const id = queue(peer, 'после ошибки 9');
    const until = Date.now() + 5000;
    while (row(id)?.last_error_code !== 9 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    const r = row(id);
    assert.equal(r?.state, 'pending');
    assert.ok((r?.next_attempt_at ?? 0) - before >= 200, 'waits the long back-off');
    assert.equal((await settled(id))?.state, 'sent');
  });

  it('marks a user who never wrote to the community as undeliverable (901), once, and keeps the row', async () => {
    nextPeer += 1;
    const id = queue(nextPeer, 'никому');
    const r = await settled(id);
    assert.equal(r?.state, 'undeliverable');
    assert.equal(r?.last_error_code, 901);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await sendsFor(nextPeer)).length, 1, 'not retried');
  });

  it('sends a text VK refuses as too long (914) in smaller parts, in order, all of it', async () => {
    const peer = await newUser();
    const long = Array.from({ length: 20 }, (_, i) => `Строка ${i}: подробности проверки.`).join('\n');
    assert.ok(long.length > 600, 'long enough to need halving twice under the 300-character limit');
    const id = queue(peer, long);
    queue(peer, 'следующее сообщение', 'result');
    assert.equal((await settled(id))?.state, 'sent');
    const seen = (await user.waitForBot(peer, (m) => m.some((x) => x.text === 'следующее сообщение'))).map((m) => m.text);
    assert.ok(seen.length >= 4);
    assert.equal(seen.at(-1), 'следующее сообщение', 'a later message waits for every part');
    assert.equal(seen.slice(0, -1).join('\n'), long, 'the parts put together give the text back');
    assert.ok((await sendsFor(peer)).some((c) => c.params.message === long), 'the whole text was tried first');
  });

  it('keeps a message VK refuses for other reasons as failed, visible, not retried forever', async () => {
    const peer = await newUser();
    await user.fault({ method: 'messages.send', error_code: 100, count: 1 });
    const id = queue(peer, 'плохие параметры');
    assert.equal((await settled(id))?.state, 'failed');
  });

  it('never lets a result overtake its acknowledgement, even when the acknowledgement is retried', async () => {
    const peer = await newUser();
    await user.fault({ method: 'messages.send', error_code: 10, count: 2 });
    queue(peer, 'первое', 'ack');
    const second = queue(peer, 'второе', 'result');
    await settled(second);
    assert.deepEqual((await user.botMessages(peer)).map((m) => m.text), ['первое', 'второе']);
  });

  it('sends a backlog at up to 20 requests per second and never above', async () => {
    const peers: number[] = [];
    for (let i = 0; i < 50; i += 1) peers.push(await newUser());
    const ids = peers.map((p) => queue(p, 'очередь'));
    for (const id of ids) await settled(id, 20_000);
    const times = (await user.calls('messages.send'))
      .filter((c) => peers.includes(Number(c.params.peer_id)))
      .map((c) => (c as unknown as { at: number }).at)
      .sort((a, b) => a - b);
    assert.equal(times.length, 50);
    for (let i = 20; i < times.length; i += 1) {
      assert.ok((times[i] ?? 0) - (times[i - 20] ?? 0) >= 1000 - 5, `more than 20 sends within 1 s around send ${i}`);
    }
  });

  it('never writes the token to its logs', () => {
    assert.ok(logLines.length > 0);
    assert.ok(!logLines.join('\n').includes(TOKEN));
  });
});
