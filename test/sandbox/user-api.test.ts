// The user-side HTTP API (the contract outside tests use): validation, transcripts, the call log, permissions.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sandboxImagesFromPool } from '../../src/sandbox/images.ts';
import { startSandbox } from '../../src/sandbox/server.ts';
import { b64, callApi, makePng, request, startHarness, userSends, type Harness } from './harness.ts';

const T = { timeout: 15_000 };
const TOKEN = { access_token: 'secret-token-value', v: '5.199' };

describe('user API', () => {
  let harness: Harness;

  before(async () => {
    harness = await startHarness({ groupId: 77 });
  });

  after(async () => {
    await harness?.close();
  });

  it('health, info, unknown endpoints and wrong verbs', T, async () => {
    assert.deepEqual((await request(harness.sandbox, 'GET', '/sandbox/health')).json, { ok: true });
    assert.deepEqual((await request(harness.sandbox, 'GET', '/sandbox/info')).json, {
      baseUrl: harness.sandbox.baseUrl,
      apiUrl: harness.sandbox.apiUrl,
      groupId: 77,
    });
    assert.equal(harness.sandbox.apiUrl, `${harness.sandbox.baseUrl}/method`);
    assert.match(harness.sandbox.baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await request(harness.sandbox, 'GET', '/sandbox/nope')).status, 404);
    assert.equal((await request(harness.sandbox, 'PUT', '/sandbox/messages', {})).status, 405);
    assert.equal((await request(harness.sandbox, 'GET', '/elsewhere')).status, 404);
  });

  it('POST /sandbox/messages refuses bad input with 400 naming the problem', T, async () => {
    const photo = b64(makePng(4, 4));
    const cases: Array<[unknown, RegExp]> = [
      ['{oops', /not valid JSON/],
      [{ text: 'no sender' }, /from_id must be a user id/],
      [{ from_id: -5, text: 'x' }, /from_id must be a user id/],
      [{ from_id: 2000000001, text: 'x' }, /from_id must be a user id/],
      [{ from_id: 100001, text: 'x', photo: [photo] }, /unknown field "photo"/],
      [{ from_id: 100001, peer_id: 100002, text: 'x' }, /peer_id must be the sender's own id/],
      [{ from_id: 100001, text: 5 }, /text must be a string/],
      [{ from_id: 100001 }, /needs "text", "photos", "docs" or "fwd"/],
      [{ from_id: 100001, photos: 'abc' }, /photos must be an array/],
      [{ from_id: 100001, photos: ['***'] }, /photos\[0\] is not valid base64/],
      [{ from_id: 100001, photos: Array(11).fill(photo) }, /the message carries 11 attachments; VK allows 10/],
      [{ from_id: 100001, photos: Array(6).fill(photo), docs: Array(5).fill({ title: 'a.png', base64: photo }) }, /VK allows 10/],
      [{ from_id: 100001, docs: [{ title: 'a/b.png', base64: photo }] }, /docs\[0\]\.title must be a non-empty file name/],
      [{ from_id: 100001, docs: [{ title: 'a.png' }] }, /docs\[0\]\.base64 must be a base64 string/],
      [{ from_id: 100001, text: 'x', reply: 999 }, /reply: no message with conversation_message_id 999/],
      [{ from_id: 100001, text: 'x', fwd: { from_id: 1 } }, /fwd must be an array/],
      [{ from_id: 100001, text: 'x', fwd: [{ from_id: 0 }] }, /fwd\[0\]\.from_id must be/],
      [{ from_id: 100001, text: 'x', fwd: [{ photos: Array(11).fill(photo) }] }, /fwd\[0\] carries 11 attachments/],
      [{ from_id: 100001, text: 'x', is_cropped: 'yes' }, /is_cropped must be a boolean/],
    ];
    for (const [body, message] of cases) {
      const reply = await request(harness.sandbox, 'POST', '/sandbox/messages', body);
      assert.equal(reply.status, 400, `${JSON.stringify(body).slice(0, 80)} -> ${reply.text}`);
      assert.match(reply.json.error, message);
    }
    assert.deepEqual((await request(harness.sandbox, 'GET', '/sandbox/messages')).json.items, [], 'nothing was stored');
  });

  it('GET /sandbox/messages: one peer oldest first, or every peer; out filter; data: URLs accepted', T, async () => {
    const a = await userSends(harness.sandbox, { from_id: 100001, text: 'a1' });
    const b = await userSends(harness.sandbox, { from_id: 100002, text: 'b1', photos: [`data:image/png;base64,${b64(makePng(8, 8))}`] });
    await callApi(harness.sandbox, 'messages.send', { ...TOKEN, peer_id: '100001', random_id: '11', message: 'bot→a' });
    await callApi(harness.sandbox, 'messages.send', { ...TOKEN, peer_id: '100001', random_id: '11', message: 'bot→a' });
    assert.deepEqual([a.message_id, a.conversation_message_id, b.message_id, b.conversation_message_id], [1, 1, 2, 1]);

    const peerA = (await request(harness.sandbox, 'GET', '/sandbox/messages?peer_id=100001')).json.items;
    assert.deepEqual(
      peerA.map((item: any) => [item.id, item.conversation_message_id, item.from_id, item.out, item.text, item.random_id]),
      [
        [1, 1, 100001, 0, 'a1', 0],
        [3, 2, -77, 1, 'bot→a', 11],
      ],
    );
    for (const item of peerA) {
      assert.equal(typeof item.date, 'number');
      assert.ok(Array.isArray(item.attachments));
    }
    const all = (await request(harness.sandbox, 'GET', '/sandbox/messages')).json.items;
    assert.deepEqual(all.map((item: any) => item.text), ['a1', 'b1', 'bot→a']);
    assert.equal(all[1].attachments[0].type, 'photo');
    const botOnly = (await request(harness.sandbox, 'GET', '/sandbox/messages?out=1')).json.items;
    assert.deepEqual(botOnly.map((item: any) => item.text), ['bot→a']);
    assert.deepEqual((await request(harness.sandbox, 'GET', '/sandbox/messages?peer_id=555')).json.items, []);
    assert.equal((await request(harness.sandbox, 'GET', '/sandbox/messages?peer_id=abc')).status, 400);
  });

  it('a user may be written to only after writing to the community (901 before)', T, async () => {
    const before = await callApi(harness.sandbox, 'messages.send', { ...TOKEN, peer_id: '100050', random_id: '1', message: 'hi' });
    assert.equal(before.json.error.error_code, 901);
    await userSends(harness.sandbox, { from_id: 100050, peer_id: 2_000_000_005, text: 'in a chat' });
    const after = await callApi(harness.sandbox, 'messages.send', { ...TOKEN, user_id: '100050', random_id: '1', message: 'hi' });
    assert.equal(typeof after.json.response, 'number');
  });

  it('GET /sandbox/calls logs every call in order with its answer and the token redacted; ?method= filters; DELETE clears', T, async () => {
    await request(harness.sandbox, 'DELETE', '/sandbox/calls');
    await callApi(harness.sandbox, 'groups.getById', TOKEN);
    await callApi(harness.sandbox, 'messages.send', { ...TOKEN, peer_id: '100001', message: 'no random id' });
    const { json, text } = await request(harness.sandbox, 'GET', '/sandbox/calls');
    assert.deepEqual(json.items.map((item: any) => item.method), ['groups.getById', 'messages.send']);
    const [getById, send] = json.items;
    assert.equal(getById.http_status, 200);
    assert.equal(getById.response.groups[0].id, 77);
    assert.equal(getById.params.access_token, '[redacted]');
    assert.equal(typeof getById.at, 'number');
    assert.equal(send.error.error_code, 100);
    assert.ok(!send.error.request_params.some((param: any) => param.key === 'access_token'));
    assert.ok(!text.includes('secret-token-value'));
    const filtered = (await request(harness.sandbox, 'GET', '/sandbox/calls?method=messages.send')).json.items;
    assert.equal(filtered.length, 1);
    await request(harness.sandbox, 'DELETE', '/sandbox/calls');
    assert.deepEqual((await request(harness.sandbox, 'GET', '/sandbox/calls')).json.items, []);
  });

  it('the API takes GET query params and a Bearer token as well', T, async () => {
    const viaGet = await fetch(`${harness.sandbox.apiUrl}/utils.getServerTime?access_token=t&v=5.199`);
    assert.equal(typeof ((await viaGet.json()) as any).response, 'number');
    const viaBearer = await fetch(`${harness.sandbox.apiUrl}/groups.getById?v=5.199`, {
      method: 'POST',
      headers: { authorization: 'Bearer t' },
    });
    assert.equal(((await viaBearer.json()) as any).response.groups[0].id, 77);
    const noVersion = await callApi(harness.sandbox, 'groups.getById', { access_token: 't' });
    assert.equal(noVersion.json.error.error_code, 8);
  });
});

describe('startSandbox options', () => {
  it('refuses bad options by name before listening', T, async () => {
    const harness = await startHarness();
    try {
      const images = sandboxImagesFromPool(harness.pool, 1_000_000);
      await assert.rejects(startSandbox({ port: -1, images, groupId: 0 }), /port must be .*groupId must be/);
    } finally {
      await harness.close();
    }
  });

  it('uses the injected clock for every date', T, async () => {
    const harness = await startHarness({ now: () => 1_700_000_000_500, textLimit: 10 });
    try {
      await userSends(harness.sandbox, { from_id: 100001, text: 'clock' });
      const [item] = (await request(harness.sandbox, 'GET', '/sandbox/messages')).json.items;
      assert.equal(item.date, 1_700_000_000);
      const long = await callApi(harness.sandbox, 'messages.send', { ...TOKEN, peer_id: '100001', random_id: '1', message: '12345678901' });
      assert.equal(long.json.error.error_code, 914);
    } finally {
      await harness.close();
    }
  });
});
