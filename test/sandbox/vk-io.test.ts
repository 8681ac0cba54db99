// The unmodified vk-io against the sandbox: receiving photos, sending, dedup, VK's errors, quotes, docs, chats.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { APIError, type MessageContext } from 'vk-io';
import {
  b64,
  callApi,
  download,
  jpegSize,
  makePng,
  NEEDS_SHARED,
  request,
  sharedBytes,
  startHarness,
  startVk,
  userSends,
  waitFor,
  type Harness,
  type VkRig,
} from './harness.ts';

const T = { timeout: 20_000 };

/** The message object exactly as the update carried it (vk-io keeps it in a protected field). */
function rawMessage(context: MessageContext): { attachments: unknown[]; fwd_messages?: unknown[] } {
  return (context as unknown as { payload: { message: { attachments: unknown[]; fwd_messages?: unknown[] } } }).payload
    .message;
}

async function rejection(promise: Promise<unknown>): Promise<APIError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof APIError, `expected an APIError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

describe('sandbox with vk-io', () => {
  let harness: Harness;
  let rig: VkRig;

  before(async () => {
    // bun test shows skips without their reason; say it once here.
    if (NEEDS_SHARED) console.log(`skipping the real-photo tests: ${NEEDS_SHARED}`);
    harness = await startHarness();
    rig = await startVk(harness.sandbox);
  });

  after(async () => {
    await rig?.stop();
    await harness?.close();
  });

  it('delivers a photo application; largeSizeUrl and orig_photo serve the original bytes, EXIF intact', { ...T, skip: NEEDS_SHARED }, async () => {
    const original = sharedBytes('corpus/photos/gps_DSCN0010.jpg'); // 640x480 with GPS EXIF
    const sent = await userSends(harness.sandbox, { from_id: 100001, text: 'подать заявку', photos: [b64(original)] });
    assert.equal(sent.peer_id, 100001);
    const context = await rig.receive(100001, sent.conversation_message_id);
    assert.equal(context.text, 'подать заявку');
    assert.equal(context.senderId, 100001);
    assert.equal(context.id, sent.message_id);
    assert.ok(context.isDM);
    const [photo] = context.getAttachments('photo');
    assert.ok(photo !== undefined);
    assert.equal(photo.ownerId, 100001);
    assert.ok(photo.largeSizeUrl?.endsWith('/y.jpg'), `largest copy of a 640x480 photo is y, got ${photo.largeSizeUrl}`);
    const large = await download(photo.largeSizeUrl as string);
    assert.equal(large.status, 200);
    assert.equal(large.type, 'image/jpeg');
    assert.ok(large.bytes.equals(original), 'the size holding the whole original must be the original file');
    assert.deepEqual(
      (photo.sizes ?? []).map((size) => `${size.type}:${size.width}x${size.height}`),
      ['s:75x56', 'm:130x98', 'x:604x453', 'y:640x480', 'o:130x98', 'p:200x150', 'q:320x240', 'r:510x383'],
    );
    const raw = rawMessage(context).attachments[0] as unknown as { photo: { orig_photo: { url: string; width: number; height: number } } };
    assert.equal(raw.photo.orig_photo.width, 640);
    assert.ok((await download(raw.photo.orig_photo.url)).bytes.equals(original));
    // Smaller copies are real resized JPEGs of the declared size, made by the worker pool.
    const small = await download(photo.smallSizeUrl as string);
    assert.equal(small.type, 'image/jpeg');
    assert.deepEqual(jpegSize(small.bytes), { width: 130, height: 98 });
  });

  it('a photo the pool cannot decode (HEIF) is still accepted, every size serving the original', { ...T, skip: NEEDS_SHARED }, async () => {
    const heic = sharedBytes('cases/img/iphone_like.heic');
    const sent = await userSends(harness.sandbox, { from_id: 100001, text: 'heic', photos: [b64(heic)] });
    const context = await rig.receive(100001, sent.conversation_message_id);
    const [photo] = context.getAttachments('photo');
    assert.ok(photo !== undefined);
    const sizes = photo.sizes ?? [];
    assert.ok(sizes.length >= 2 && sizes.every((size) => size.width === 0 && size.height === 0));
    assert.ok((await download(photo.largeSizeUrl as string)).bytes.equals(heic));
    assert.ok((await download(photo.smallSizeUrl as string)).bytes.equals(heic));
  });

  it('context.send (peer_ids) answers the user and shows in GET /sandbox/messages; on(message_new) skips it', T, async () => {
    const sent = await userSends(harness.sandbox, { from_id: 100002, text: 'привет' });
    const context = await rig.receive(100002, sent.conversation_message_id);
    const answer = await context.send('Заявка принята!');
    // vk-io 4.10.1 fills the returned context's text from options.text (not .message): it is undefined.
    assert.equal(answer.isOutbox, true);
    assert.ok(answer.id > sent.message_id);
    const { json } = await request(harness.sandbox, 'GET', '/sandbox/messages?peer_id=100002');
    assert.deepEqual(
      json.items.map((item: { out: number; from_id: number; text: string }) => [item.out, item.from_id, item.text]),
      [
        [0, 100002, 'привет'],
        [1, -harness.sandbox.groupId, 'Заявка принята!'],
      ],
    );
    const calls = await request(harness.sandbox, 'GET', '/sandbox/calls?method=messages.send');
    const last = calls.json.items.at(-1);
    assert.equal(last.params.peer_ids, '100002');
    assert.equal(last.params.access_token, '[redacted]');
    assert.ok(!calls.text.includes('sandbox-test-token'), 'the token never shows in the call log');
    // The bot's own message comes back as message_reply, which on('message_new') must not see.
    await waitFor('the message_reply event to be polled', async () => {
      const polls = await request(harness.sandbox, 'GET', '/sandbox/calls?method=longpoll');
      return polls.text.includes('"message_reply"');
    });
    assert.ok(!rig.received.some((item) => item.isOutbox));
  });

  it('messages.send with a repeated random_id returns the original id and adds nothing', T, async () => {
    await userSends(harness.sandbox, { from_id: 100003, text: 'hi' });
    const first = await rig.vk.api.messages.send({ peer_id: 100003, random_id: 424242, message: 'once' });
    const again = await rig.vk.api.messages.send({ peer_id: 100003, random_id: 424242, message: 'once' });
    assert.equal(typeof first, 'number');
    assert.equal(again, first);
    // random_id 0 turns the check off: both go out.
    await rig.vk.api.messages.send({ peer_id: 100003, random_id: 0, message: 'zero' });
    await rig.vk.api.messages.send({ peer_id: 100003, random_id: 0, message: 'zero' });
    // vk-io's own ids go above 2^53; they must neither collide nor lose digits.
    const big = '17000000000000001';
    const bigFirst = await rig.vk.api.messages.send({ peer_id: 100003, random_id: big as never, message: 'big' });
    const bigNext = await rig.vk.api.messages.send({ peer_id: 100003, random_id: '17000000000000002' as never, message: 'big' });
    assert.notEqual(bigFirst, bigNext);
    const { json, text } = await request(harness.sandbox, 'GET', '/sandbox/messages?peer_id=100003');
    assert.deepEqual(
      json.items.filter((item: { out: number }) => item.out === 1).map((item: { text: string }) => item.text),
      ['once', 'zero', 'zero', 'big', 'big'],
    );
    assert.ok(text.includes(`"random_id":${big}`), 'random_id above 2^53 keeps every digit');
    assert.equal(json.items[1].random_id, 424242);
  });

  it('messages.send refuses what VK refuses: no random_id, empty message, 901, 914', T, async () => {
    await userSends(harness.sandbox, { from_id: 100004, text: 'hi' });
    const noRandom = await rejection(rig.vk.api.messages.send({ peer_id: 100004, message: 'x' }));
    assert.equal(noRandom.code, 100);
    const empty = await rejection(rig.vk.api.messages.send({ peer_id: 100004, random_id: 1 }));
    assert.equal(empty.code, 100);
    const stranger = await rejection(rig.vk.api.messages.send({ peer_id: 100999, random_id: 2, message: 'x' }));
    assert.equal(stranger.code, 901);
    assert.equal(stranger.message, "Code №901 - Can't send messages for users without permission");
    assert.ok(stranger.params.some((param) => param.key === 'peer_id' && param.value === '100999'));
    assert.ok(!stranger.params.some((param) => param.key === 'access_token'));
    const tooLong = await rejection(rig.vk.api.messages.send({ peer_id: 100004, random_id: 3, message: 'я'.repeat(4097) }));
    assert.equal(tooLong.code, 914);
    const longest = await rig.vk.api.messages.send({ peer_id: 100004, random_id: 4, message: 'я'.repeat(4096) });
    assert.equal(typeof longest, 'number');
    // peer_ids: one item per peer, the refused one with its own error and no message_id.
    const multi = (await rig.vk.api.messages.send({ peer_ids: [100004, 100999], random_id: 5, message: 'both' })) as unknown;
    assert.deepEqual(
      (multi as Array<Record<string, unknown>>).map((item) => ('error' in item ? item['error'] : typeof item['message_id'])),
      ['number', { code: 901, description: "Can't send messages for users without permission" }],
    );
  });

  it('a cropped message has no attachments in the event; getByConversationMessageId returns them', T, async () => {
    const png = makePng(300, 200);
    const sent = await userSends(harness.sandbox, { from_id: 100005, text: 'много фото', photos: [b64(png), b64(png)], is_cropped: true });
    const context = await rig.receive(100005, sent.conversation_message_id);
    assert.equal(context.isCropped, true);
    assert.equal(context.getAttachments('photo').length, 0);
    const fetched = await rig.vk.api.messages.getByConversationMessageId({
      peer_id: 100005,
      conversation_message_ids: sent.conversation_message_id,
    });
    assert.equal(fetched.count, 1);
    assert.equal(fetched.items[0]?.attachments?.length, 2);
    await context.loadMessagePayload({ force: true });
    assert.equal(context.getAttachments('photo').length, 2);
    assert.ok((await download(context.getAttachments('photo')[0]?.largeSizeUrl as string)).bytes.equals(png));
    const byId = await rig.vk.api.messages.getById({ message_ids: sent.message_id });
    assert.equal(byId.items[0]?.attachments?.length, 2);
  });

  it('photos inside a forwarded message and a reply reach getAllAttachments', T, async () => {
    const forwarded = makePng(400, 300);
    const replied = makePng(200, 100);
    const sent = await userSends(harness.sandbox, {
      from_id: 100006,
      text: 'подать заявку',
      fwd: [{ from_id: 100007, text: 'here is the picture', photos: [b64(forwarded)] }],
      reply: { from_id: 100006, text: 'my old photo', photos: [b64(replied)] },
    });
    const context = await rig.receive(100006, sent.conversation_message_id);
    assert.equal(context.getAttachments('photo').length, 0);
    const all = context.getAllAttachments('photo');
    assert.equal(all.length, 2);
    assert.equal(context.forwards[0]?.senderId, 100007);
    assert.equal(context.forwards[0]?.text, 'here is the picture');
    assert.equal(context.replyMessage?.text, 'my old photo');
    const urls = all.map((photo) => photo.largeSizeUrl as string);
    const bodies = await Promise.all(urls.map(download));
    assert.ok(bodies.some((body) => body.bytes.equals(forwarded)));
    assert.ok(bodies.some((body) => body.bytes.equals(replied)));
    const fwdRaw = rawMessage(context).fwd_messages?.[0] as unknown as Record<string, unknown>;
    assert.deepEqual(Object.keys(fwdRaw).sort(), ['attachments', 'conversation_message_id', 'date', 'from_id', 'text']);
  });

  it('a user reply to the bot (reply by conversation_message_id) carries the bot message; context.reply quotes back', T, async () => {
    const first = await userSends(harness.sandbox, { from_id: 100008, text: 'hello' });
    const context = await rig.receive(100008, first.conversation_message_id);
    const bot = await context.send('Опубликовать?');
    const answer = await userSends(harness.sandbox, { from_id: 100008, text: 'да', reply: bot.conversationMessageId });
    const replyContext = await rig.receive(100008, answer.conversation_message_id);
    assert.equal(replyContext.replyMessage?.senderId, -harness.sandbox.groupId);
    assert.equal(replyContext.replyMessage?.text, 'Опубликовать?');
    assert.equal(replyContext.replyMessage?.conversationMessageId, bot.conversationMessageId);
    // vk-io's reply() sends forward={"conversation_message_ids":<n>,"is_reply":true,...}.
    await replyContext.reply('Готово');
    const { json } = await request(harness.sandbox, 'GET', '/sandbox/messages?peer_id=100008');
    const last = json.items.at(-1);
    assert.equal(last.text, 'Готово');
    assert.equal(last.reply_message.conversation_message_id, answer.conversation_message_id);
    assert.equal(last.reply_message.text, 'да');
  });

  it('an image sent as a document is a doc of type 4 with preview sizes (src) and serves the original', T, async () => {
    const png = makePng(1000, 800);
    const sent = await userSends(harness.sandbox, {
      from_id: 100009,
      text: 'оригинал',
      docs: [
        { title: "IMG 0001 (копия)'s.png", base64: b64(png) },
        { title: 'notes.txt', base64: b64(Buffer.from('just text')) },
      ],
    });
    const context = await rig.receive(100009, sent.conversation_message_id);
    const [image, text] = context.getAttachments('doc');
    assert.ok(image !== undefined && text !== undefined);
    assert.equal(image.isImage, true);
    assert.equal(image.extension, 'png');
    assert.equal(image.title, "IMG 0001 (копия)'s.png");
    assert.equal(image.size, png.length);
    assert.ok((await download(image.url as string)).bytes.equals(png));
    const preview = image.preview as unknown as { photo: { sizes: Array<{ src: string; width: number; height: number; type: string }> } };
    assert.deepEqual(
      preview.photo.sizes.map((size) => `${size.type}:${size.width}x${size.height}`),
      ['s:94x75', 'm:125x100', 'x:604x483', 'y:807x646', 'o:1000x800'],
    );
    const original = preview.photo.sizes.at(-1);
    assert.ok((await download(original?.src as string)).bytes.equals(png));
    assert.deepEqual(jpegSize((await download(preview.photo.sizes[1]?.src as string)).bytes), { width: 125, height: 100 });
    assert.equal(text.isImage, false);
    assert.equal(text.typeId, 8);
    assert.equal(text.preview, undefined);
  });

  it('a chat message has id 0; the bot answers it by peer_ids with message_id 0', T, async () => {
    const chat = 2_000_000_001;
    const sent = await userSends(harness.sandbox, { from_id: 100010, peer_id: chat, text: '[club1|бот], подать заявку' });
    assert.equal(sent.message_id, 0);
    const context = await rig.receive(chat, sent.conversation_message_id);
    assert.ok(context.isChat);
    assert.equal(context.id, 0);
    assert.equal(context.chatId, 1);
    const answer = await context.send('В чате');
    assert.equal(answer.id, 0);
    assert.equal(answer.conversationMessageId, sent.conversation_message_id + 1);
    const fetched = await rig.vk.api.messages.getByConversationMessageId({ peer_id: chat, conversation_message_ids: [1, 2] });
    assert.deepEqual(fetched.items.map((item) => item.text), ['[club1|бот], подать заявку', 'В чате']);
    const denied = await rejection(rig.vk.api.messages.send({ peer_id: 2_000_000_777, random_id: 9, message: 'x' }));
    assert.equal(denied.code, 917);
  });

  it('getConversations and getHistory show what the bot has not answered', T, async () => {
    const peer = 100011;
    const first = await userSends(harness.sandbox, { from_id: peer, text: 'one' });
    await rig.vk.api.messages.send({ peer_id: peer, random_id: 1, message: 'answer' });
    const second = await userSends(harness.sandbox, { from_id: peer, text: 'two' });
    const unanswered = await rig.vk.api.messages.getConversations({ filter: 'unanswered', count: 200 });
    const mine = unanswered.items.find((item) => item.conversation.peer.id === peer);
    assert.ok(mine !== undefined, 'a conversation whose last message is the user\'s is unanswered');
    assert.equal(mine.conversation.peer.type, 'user');
    assert.equal(mine.conversation.last_message_id, second.message_id);
    assert.equal(mine.last_message?.text, 'two');
    await rig.vk.api.messages.send({ peer_id: peer, random_id: 2, message: 'answer 2' });
    const after = await rig.vk.api.messages.getConversations({ filter: 'unanswered', count: 200 });
    assert.ok(!after.items.some((item) => item.conversation.peer.id === peer));
    const newestFirst = await rig.vk.api.messages.getHistory({ peer_id: peer, count: 2 });
    assert.equal(newestFirst.count, 4);
    assert.deepEqual(newestFirst.items.map((item) => item.text), ['answer 2', 'two']);
    const oldestFirst = await rig.vk.api.messages.getHistory({ peer_id: peer, rev: 1, start_message_id: first.message_id, offset: 1, count: 2 });
    assert.deepEqual(oldestFirst.items.map((item) => item.text), ['answer', 'two']);
  });

  it('unknown methods, a missing token and a wrong group answer VK error envelopes with HTTP 200', T, async () => {
    const unknown = await rejection(rig.vk.api.call('messages.noSuchMethod', {}));
    assert.equal(unknown.code, 3);
    const noToken = await callApi(harness.sandbox, 'groups.getLongPollServer', { group_id: '1', v: '5.199' });
    assert.equal(noToken.status, 200);
    assert.deepEqual(noToken.json, {
      error: {
        error_code: 15,
        error_msg: 'Access denied: token required',
        request_params: [
          { key: 'group_id', value: '1' },
          { key: 'v', value: '5.199' },
        ],
      },
    });
    const badToken = await callApi(harness.sandbox, 'groups.getById', { access_token: '', v: '5.199' });
    assert.equal(badToken.json.error.error_code, 5);
    const wrongGroup = await rejection(rig.vk.api.groups.getLongPollServer({ group_id: 777 }));
    assert.equal(wrongGroup.code, 100);
    const group = await rig.vk.api.groups.getById({});
    assert.equal(group.groups[0]?.id, harness.sandbox.groupId);
    assert.deepEqual(group.profiles, []);
  });
});

describe('sandbox with vk-io and no pollingGroupId', () => {
  it('vk-io finds the group through groups.getById and polls it', T, async () => {
    const harness = await startHarness({ groupId: 4242 });
    const rig = await startVk(harness.sandbox, { pollingGroupId: undefined });
    try {
      const sent = await userSends(harness.sandbox, { from_id: 100001, text: 'hi' });
      const context = await rig.receive(100001, sent.conversation_message_id);
      assert.equal(context.$groupId, 4242);
      const server = (await request(harness.sandbox, 'GET', '/sandbox/calls?method=groups.getLongPollServer')).json.items[0];
      assert.equal(server.params.group_id, '4242');
      assert.equal(server.response.server, `${harness.sandbox.baseUrl}/lp/whp/4242`);
    } finally {
      await rig.stop();
      await harness.close();
    }
  });
});
