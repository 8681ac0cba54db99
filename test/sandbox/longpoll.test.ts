// The Bots Long Poll endpoint over raw HTTP: numbering, holding, history, keys, failures and close().

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { callApi, readReply, request, startHarness, userSends, type Harness } from './harness.ts';

const T = { timeout: 15_000 };

interface Server {
  key: string;
  server: string;
  ts: string;
}

async function lpServer(harness: Harness): Promise<Server> {
  const reply = await callApi(harness.sandbox, 'groups.getLongPollServer', {
    access_token: 't',
    v: '5.199',
    group_id: String(harness.sandbox.groupId),
  });
  return reply.json.response;
}

async function poll(
  server: Server,
  ts: string,
  options: { key?: string; wait?: number; signal?: AbortSignal } = {},
): Promise<{ status: number; text: string; json: any; ms: number }> {
  const url = new URL(server.server);
  url.search = new URLSearchParams({
    key: options.key ?? server.key,
    act: 'a_check',
    wait: String(options.wait ?? 25),
    mode: '202',
    version: '19',
    ts,
  }).toString();
  const started = Date.now();
  const { status, text, json } = await readReply(await fetch(url, { signal: options.signal }));
  return { status, text, json, ms: Date.now() - started };
}

describe('long poll protocol', () => {
  let harness: Harness;

  before(async () => {
    harness = await startHarness({ groupId: 123456789, longPollMaxWaitMs: 400 });
  });

  after(async () => {
    await harness?.close();
  });

  it('numbers events from 1 and answers those >= ts with ts = next number, all as strings', T, async () => {
    const server = await lpServer(harness);
    assert.equal(server.server, `${harness.sandbox.baseUrl}/lp/whp/123456789`);
    assert.equal(typeof server.ts, 'string');
    const start = Number(server.ts);
    await userSends(harness.sandbox, { from_id: 100001, text: 'one' });
    await userSends(harness.sandbox, { from_id: 100001, text: 'two' });
    const both = await poll(server, String(start));
    assert.equal(both.json.ts, String(start + 2));
    assert.deepEqual(both.json.updates.map((u: any) => u.object.message.text), ['one', 'two']);
    const second = await poll(server, String(start + 1));
    assert.deepEqual(second.json.updates.map((u: any) => u.object.message.text), ['two']);

    const [update] = both.json.updates;
    assert.equal(update.group_id, 123456789);
    assert.equal(update.type, 'message_new');
    assert.match(update.event_id, /^[0-9a-f]{40}$/);
    assert.equal(update.v, '5.199');
    assert.deepEqual(Object.keys(update.object).sort(), ['client_info', 'message']);
    assert.deepEqual(Object.keys(update.object.message).sort(), [
      'attachments', 'conversation_message_id', 'date', 'from_id', 'fwd_messages', 'id', 'important',
      'is_hidden', 'out', 'peer_id', 'random_id', 'text', 'version',
    ]);
    assert.equal(update.object.message.out, 0);
    assert.equal(update.object.message.random_id, 0);
    assert.notEqual(update.event_id, both.json.updates[1].event_id);
  });

  it('holds a request with nothing new, answers at once when an event arrives, and empty at the cap', T, async () => {
    const server = await lpServer(harness);
    const idle = await poll(server, server.ts);
    assert.deepEqual(idle.json, { ts: server.ts, updates: [] });
    assert.ok(idle.ms >= 350, `held for the 400 ms cap, answered after ${idle.ms} ms`);
    const immediate = await poll(server, server.ts, { wait: 0 });
    assert.ok(immediate.ms < 300);

    const pending = poll(server, server.ts);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await userSends(harness.sandbox, { from_id: 100001, text: 'wake' });
    const woken = await pending;
    assert.ok(woken.ms < 390, `answered when the event came, after ${woken.ms} ms`);
    assert.equal(woken.json.updates[0].object.message.text, 'wake');
  });

  it('a wrong key is failed:2; garbage or future ts is failed:1 with the current ts', T, async () => {
    const server = await lpServer(harness);
    assert.deepEqual((await poll(server, server.ts, { key: 'nope' })).json, { failed: 2 });
    assert.deepEqual((await poll(server, 'undefined')).json, { failed: 1, ts: server.ts });
    assert.deepEqual((await poll(server, String(Number(server.ts) + 50))).json, { failed: 1, ts: server.ts });
    const wrongGroup = { ...server, server: server.server.replace(/\d+$/, '5') };
    assert.deepEqual((await poll(wrongGroup, server.ts)).json, { failed: 2 });
  });

  it('failed:2 fault expires the key for good; failed:3 also loses the history; failed:1 loses nothing', T, async () => {
    const before = await lpServer(harness);
    await request(harness.sandbox, 'POST', '/sandbox/faults', { longpoll: { failed: 2 } });
    assert.deepEqual((await poll(before, before.ts)).json, { failed: 2 });
    assert.deepEqual((await poll(before, before.ts, { wait: 0 })).json, { failed: 2 }, 'the old key stays dead');
    const renewed = await lpServer(harness);
    assert.notEqual(renewed.key, before.key);
    assert.equal(renewed.ts, before.ts, 'key expiry keeps the event numbering');
    assert.deepEqual((await poll(renewed, renewed.ts, { wait: 0 })).json, { ts: renewed.ts, updates: [] });

    await userSends(harness.sandbox, { from_id: 100001, text: 'kept' });
    await request(harness.sandbox, 'POST', '/sandbox/faults', { longpoll: { failed: 1 } });
    assert.deepEqual((await poll(renewed, renewed.ts)).json, { failed: 1, ts: renewed.ts });
    assert.equal((await poll(renewed, renewed.ts)).json.updates[0].object.message.text, 'kept');

    await userSends(harness.sandbox, { from_id: 100001, text: 'lost' });
    await request(harness.sandbox, 'POST', '/sandbox/faults', { longpoll: { failed: 3 } });
    assert.deepEqual((await poll(renewed, renewed.ts)).json, { failed: 3 });
    const fresh = await lpServer(harness);
    assert.equal(Number(fresh.ts), Number(renewed.ts) + 2);
    // The history before the loss is gone: asking for it is failed:1 pointing at the present.
    assert.deepEqual((await poll(fresh, renewed.ts, { wait: 0 })).json, { failed: 1, ts: fresh.ts });
  });

  it('HTTP 500 and hang faults; a fault scheduled while a request is held hits that request', T, async () => {
    const server = await lpServer(harness);
    await request(harness.sandbox, 'POST', '/sandbox/faults', { longpoll: { http_status: 500 }, count: 1 });
    const broken = await poll(server, server.ts);
    assert.equal(broken.status, 500);
    assert.equal(broken.json, undefined, 'a 500 body is not JSON, like a proxy page');

    const held = poll(server, server.ts);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await request(harness.sandbox, 'POST', '/sandbox/faults', { longpoll: { failed: 1 } });
    const kicked = await held;
    assert.deepEqual(kicked.json, { failed: 1, ts: server.ts });
    assert.ok(kicked.ms < 350, 'answered when the fault was scheduled, not at the cap');

    await request(harness.sandbox, 'POST', '/sandbox/faults', { longpoll: { hang: true } });
    const abort = new AbortController();
    const hung = poll(server, server.ts, { signal: abort.signal });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await userSends(harness.sandbox, { from_id: 100001, text: 'while hung' });
    setTimeout(() => abort.abort(), 600);
    await assert.rejects(hung, (error: Error) => error.name === 'AbortError');
    const next = await poll(server, server.ts);
    assert.equal(next.json.updates[0].object.message.text, 'while hung');
    const log = (await request(harness.sandbox, 'GET', '/sandbox/calls?method=longpoll')).json.items;
    assert.ok(log.some((entry: any) => entry.http_status === 0 && entry.fault !== undefined), 'the hung poll is logged');
  });
});

describe('long poll history and close', () => {
  it('keeps a bounded history: older ts is failed:1 pointing at the oldest kept event', T, async () => {
    const harness = await startHarness({ longPollHistory: 3 });
    try {
      const server = await lpServer(harness);
      for (const text of ['1', '2', '3', '4', '5']) await userSends(harness.sandbox, { from_id: 100001, text });
      assert.deepEqual((await poll(server, '1')).json, { failed: 1, ts: '3' });
      const kept = await poll(server, '3');
      assert.deepEqual(kept.json.updates.map((u: any) => u.object.message.text), ['3', '4', '5']);
      assert.equal(kept.json.ts, '6');
    } finally {
      await harness.close();
    }
  });

  it('close() answers held requests with an empty reply and ends stalled ones', T, async () => {
    const harness = await startHarness();
    const server = await lpServer(harness);
    const held = poll(server, server.ts);
    await request(harness.sandbox, 'POST', '/sandbox/faults', { photo: { stall: true } });
    await userSends(harness.sandbox, { from_id: 100001, text: 'x', photos: [Buffer.from('not an image').toString('base64')] });
    const update = (await poll(server, server.ts)).json.updates[0];
    // Settled into a value at once, so its rejection is never "unhandled" while the test awaits others.
    const stalled = fetch(update.object.message.attachments[0].photo.sizes[0].url)
      .then((res) => res.arrayBuffer())
      .then(
        () => 'completed',
        () => 'failed',
      );
    // Let the second poll be held again before closing.
    const again = poll(server, String(Number(server.ts) + 1));
    await new Promise((resolve) => setTimeout(resolve, 150));
    const started = Date.now();
    await harness.close();
    assert.ok(Date.now() - started < 2000, 'close() does not wait for clients');
    const answered = await again;
    assert.deepEqual(answered.json, { ts: String(Number(server.ts) + 1), updates: [] });
    await held;
    assert.equal(await stalled, 'failed', 'the stalled download is cut, not left hanging');
  });
});
