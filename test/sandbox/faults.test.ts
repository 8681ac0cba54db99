// Scheduled faults: vk-io recovering from long-poll and API faults, photo download faults, fault validation.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { APIError, VK } from 'vk-io';
import { b64, makePng, request, startHarness, startVk, userSends, waitFor, type Harness, type VkRig } from './harness.ts';

const T = { timeout: 20_000 };

async function fault(harness: Harness, body: unknown): Promise<any> {
  const reply = await request(harness.sandbox, 'POST', '/sandbox/faults', body);
  assert.equal(reply.status, 200, reply.text);
  return reply.json;
}

async function calls(harness: Harness, method: string): Promise<any[]> {
  return (await request(harness.sandbox, 'GET', `/sandbox/calls?method=${method}`)).json.items;
}

describe('vk-io recovers from long-poll faults by itself', () => {
  let harness: Harness;
  let rig: VkRig;

  before(async () => {
    harness = await startHarness();
    rig = await startVk(harness.sandbox);
  });

  after(async () => {
    await rig?.stop();
    await harness?.close();
  });

  for (const failed of [1, 2, 3] as const) {
    it(`failed:${failed}`, T, async () => {
      const serversBefore = (await calls(harness, 'groups.getLongPollServer')).length;
      const scheduled = await fault(harness, { longpoll: { failed } });
      await waitFor('the faulty long-poll answer', async () =>
        (await calls(harness, 'longpoll')).some((entry) => entry.fault === scheduled.id && entry.response?.failed === failed),
      );
      if (failed !== 1) {
        // 2 and 3 make vk-io restart: a new getLongPollServer, then polls with the new key.
        await waitFor('vk-io to fetch a new key', async () => (await calls(harness, 'groups.getLongPollServer')).length > serversBefore);
        const servers = await calls(harness, 'groups.getLongPollServer');
        await waitFor('a poll with the new key', async () =>
          (await calls(harness, 'longpoll')).some((entry) => entry.params.key === servers.at(-1).response.key),
        );
      }
      const sent = await userSends(harness.sandbox, { from_id: 100001, text: `after failed ${failed}` });
      const context = await rig.receive(100001, sent.conversation_message_id);
      assert.equal(context.text, `after failed ${failed}`);
    });
  }

  it('HTTP 500: vk-io waits 3 s and polls again with the same ts, so a message sent meanwhile arrives', T, async () => {
    const scheduled = await fault(harness, { longpoll: { http_status: 500 } });
    await waitFor('the 500 answer', async () => (await calls(harness, 'longpoll')).some((entry) => entry.fault === scheduled.id));
    const sent = await userSends(harness.sandbox, { from_id: 100001, text: 'during the back-off' });
    const context = await rig.receive(100001, sent.conversation_message_id, 10_000);
    assert.equal(context.text, 'during the back-off');
    const polls = await calls(harness, 'longpoll');
    const failedAt = polls.findIndex((entry) => entry.fault === scheduled.id);
    assert.equal(polls[failedAt].http_status, 500);
    assert.equal(polls[failedAt + 1].params.ts, polls[failedAt].params.ts, 'same ts after the back-off');
  });
});

describe('API faults as vk-io meets them', () => {
  let harness: Harness;
  let agent: http.Agent;
  let vk: VK;

  before(async () => {
    harness = await startHarness();
    agent = new http.Agent({ keepAlive: true });
    // Short transport timeouts so slow and broken answers are retried within a test's time.
    vk = new VK({
      token: 't',
      apiBaseUrl: harness.sandbox.apiUrl,
      agent: agent as never,
      apiLimit: 20,
      apiTimeout: 400,
      apiWait: 50,
    });
    await userSends(harness.sandbox, { from_id: 100001, text: 'allow me' });
  });

  after(async () => {
    agent?.destroy();
    await harness?.close();
  });

  it('error 6 is VK\'s envelope; vk-io pauses and repeats until the counted faults are used up', T, async () => {
    const scheduled = await fault(harness, { method: 'messages.send', error_code: 6, count: 2 });
    assert.equal(scheduled.remaining, 2);
    const id = await vk.api.messages.send({ peer_id: 100001, random_id: 60, message: 'after 6' });
    assert.equal(typeof id, 'number');
    const sends = (await calls(harness, 'messages.send')).filter((entry) => entry.params.random_id === '60');
    assert.deepEqual(
      sends.map((entry) => entry.error?.error_code ?? entry.response),
      [6, 6, id],
    );
    assert.equal(sends[0].error.error_msg, 'Too many requests per second');
    assert.deepEqual((await request(harness.sandbox, 'GET', '/sandbox/faults')).json.items, []);
  });

  it('other error codes reach the caller with VK\'s text (or the given one)', T, async () => {
    await fault(harness, { method: 'messages.send', error_code: 10 });
    await fault(harness, { method: 'messages.send', error_code: 9, error_msg: 'Flood control' });
    await assert.rejects(vk.api.messages.send({ peer_id: 100001, random_id: 61, message: 'x' }), (error: APIError) => {
      assert.equal(error.code, 10);
      assert.equal(error.message, 'Code №10 - Internal server error');
      return true;
    });
    await assert.rejects(vk.api.messages.send({ peer_id: 100001, random_id: 62, message: 'x' }), (error: APIError) => {
      assert.equal(error.code, 9);
      assert.equal(error.message, 'Code №9 - Flood control');
      return true;
    });
    const { json } = await request(harness.sandbox, 'GET', '/sandbox/messages?peer_id=100001&out=1');
    assert.ok(!json.items.some((item: any) => item.random_id === 61 || item.random_id === 62), 'a faulted call does nothing');
  });

  it('HTTP 500 answers are not JSON; vk-io retries them and the send happens once', T, async () => {
    await fault(harness, { method: 'messages.send', http_status: 500, count: 2 });
    const raw = await request(harness.sandbox, 'POST', '/method/messages.send', 'access_token=t&v=5.199');
    assert.equal(raw.status, 500);
    assert.equal(raw.json, undefined);
    const id = await vk.api.messages.send({ peer_id: 100001, random_id: 63, message: 'after 500' });
    const sends = (await calls(harness, 'messages.send')).filter((entry) => entry.params.random_id === '63');
    assert.deepEqual(sends.map((entry) => entry.http_status), [500, 200]);
    assert.equal(sends[1].response, id);
  });

  it('a slow answer is still performed: vk-io times out, retries with the same random_id, one message', T, async () => {
    await fault(harness, { method: 'messages.send', delay_ms: 1000 });
    const id = await vk.api.messages.send({ peer_id: 100001, random_id: 64, message: 'slow' });
    const performed = await waitFor('the slow call to be performed', async () => {
      const sends = (await calls(harness, 'messages.send')).filter((entry) => entry.params.random_id === '64');
      return sends.length === 2 && sends.every((entry) => entry.pending !== true) ? sends : undefined;
    });
    assert.ok(performed[0].fault !== undefined, 'the first call carried the delay');
    assert.equal(performed[0].response, id, 'performed late, deduplicated to the retry\'s message');
    assert.equal(performed[1].response, id);
    const { json } = await request(harness.sandbox, 'GET', '/sandbox/messages?peer_id=100001');
    assert.equal(json.items.filter((item: any) => item.text === 'slow').length, 1);
  });

  it('"*" matches any method', T, async () => {
    await fault(harness, { method: '*', error_code: 1 });
    await assert.rejects(vk.api.groups.getById({}), (error: APIError) => error.code === 1);
    assert.equal((await vk.api.groups.getById({})).groups.length, 1);
  });
});

describe('photo download faults', () => {
  let harness: Harness;
  let url: string;
  const png = makePng(64, 48);

  before(async () => {
    harness = await startHarness();
    await userSends(harness.sandbox, { from_id: 100001, text: 'photo', photos: [b64(png)] });
    const { json } = await request(harness.sandbox, 'GET', '/sandbox/messages?peer_id=100001');
    url = json.items[0].attachments[0].photo.orig_photo.url;
  });

  after(async () => {
    await harness?.close();
  });

  it('http_status answers that status `count` times, then the photo again', T, async () => {
    await fault(harness, { photo: { http_status: 404 }, count: 2 });
    assert.equal((await fetch(url)).status, 404);
    assert.equal((await fetch(url)).status, 404);
    const ok = await fetch(url);
    assert.equal(ok.status, 200);
    assert.ok(Buffer.from(await ok.arrayBuffer()).equals(png));
    const downloads = (await request(harness.sandbox, 'GET', '/sandbox/downloads')).json.items;
    assert.deepEqual(downloads.slice(-3).map((entry: any) => entry.http_status), [404, 404, 200]);
  });

  it('html answers a 200 text/html page', T, async () => {
    await fault(harness, { photo: { html: true } });
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await res.text(), /<html/);
  });

  it('redirect answers 302 to the given URL', T, async () => {
    await fault(harness, { photo: { redirect: 'http://example.invalid/x.jpg' } });
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), 'http://example.invalid/x.jpg');
  });

  it('stall sends headers and then nothing', T, async () => {
    await fault(harness, { photo: { stall: true } });
    const abort = new AbortController();
    const res = await fetch(url, { signal: abort.signal });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(png.length));
    const timer = setTimeout(() => abort.abort(), 300);
    await assert.rejects(res.arrayBuffer());
    clearTimeout(timer);
  });

  it('endless streams bytes until the client leaves', T, async () => {
    await fault(harness, { photo: { endless: true } });
    const res = await fetch(url);
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    assert.equal(res.headers.get('content-length'), null);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let received = 0;
    while (received < 4 * 1024 * 1024) {
      const { value, done } = await reader.read();
      assert.equal(done, false, 'the stream never ends by itself');
      received += value?.length ?? 0;
    }
    await reader.cancel();
    // The sandbox is still fine afterwards.
    assert.equal((await fetch(url)).status, 200);
  });

  it('delay_ms answers late but completely', T, async () => {
    await fault(harness, { photo: { delay_ms: 300 } });
    const started = Date.now();
    const res = await fetch(url);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(png));
    assert.ok(Date.now() - started >= 280);
  });
});

describe('fault schedule API', () => {
  let harness: Harness;

  before(async () => {
    harness = await startHarness();
  });

  after(async () => {
    await harness?.close();
  });

  it('rejects unknown shapes with 400 naming the problem', T, async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ method: 'messages.send', error_code: 6, cuont: 3 }, /unknown field "cuont"/],
      [{ method: 'messages.send' }, /needs "error_code", "http_status" or "delay_ms"/],
      [{ method: 'messages.send', error_code: 6, http_status: 500 }, /not both/],
      [{ method: 'send', error_code: 6 }, /"method" must be/],
      [{ longpoll: { failed: 4 } }, /"longpoll.failed" must be 1, 2 or 3/],
      [{ longpoll: { failed: 2, hang: true } }, /exactly one of failed, http_status, hang/],
      [{ longpoll: { failed: 2 }, error_code: 6 }, /unknown field "error_code"/],
      [{ photo: { broken: true } }, /unknown field "broken" in "photo"/],
      [{ photo: { redirect: 'ftp://x' } }, /"photo.redirect" must be an http\(s\) URL/],
      [{ photo: { stall: true }, count: 0 }, /"count" must be an integer from 1/],
      [{ method: 'messages.send', error_code: 6, longpoll: { failed: 1 } }, /exactly one of "method", "longpoll" or "photo"/],
      [[1, 2], /must be a JSON object/],
      ['{not json', /not valid JSON/],
    ];
    for (const [body, message] of cases) {
      const reply = await request(harness.sandbox, 'POST', '/sandbox/faults', body);
      assert.equal(reply.status, 400, `${JSON.stringify(body)} -> ${reply.text}`);
      assert.match(reply.json.error, message);
    }
    assert.deepEqual((await request(harness.sandbox, 'GET', '/sandbox/faults')).json.items, []);
  });

  it('lists what is still scheduled, removes one by id, clears all', T, async () => {
    const a = await fault(harness, { method: 'messages.send', error_code: 6, count: 3 });
    const b = await fault(harness, { longpoll: { failed: 2 } });
    await fault(harness, { photo: { http_status: 404 } });
    assert.deepEqual(a, { id: a.id, method: 'messages.send', error_code: 6, count: 3, remaining: 3 });
    let listed = (await request(harness.sandbox, 'GET', '/sandbox/faults')).json.items;
    assert.deepEqual(listed.map((item: any) => item.id), [a.id, b.id, b.id + 1]);
    assert.deepEqual(listed[1], { id: b.id, longpoll: { failed: 2 }, count: 1, remaining: 1 });
    assert.equal((await request(harness.sandbox, 'DELETE', `/sandbox/faults/${b.id}`)).status, 200);
    listed = (await request(harness.sandbox, 'GET', '/sandbox/faults')).json.items;
    assert.equal(listed.length, 2);
    assert.equal((await request(harness.sandbox, 'DELETE', '/sandbox/faults')).status, 200);
    assert.deepEqual((await request(harness.sandbox, 'GET', '/sandbox/faults')).json.items, []);
  });
});
