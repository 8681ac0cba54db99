import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectPhotos, isTrigger, parseIncoming, type RawMessage } from '../../src/vk/incoming.ts';

const samples = fileURLToPath(new URL('../../../shared/vk/samples/', import.meta.url));
const haveSamples = existsSync(samples);
// Samples are either one update or a long-poll reply holding updates.
const sample = (name: string): RawMessage => {
  const json = JSON.parse(readFileSync(samples + name, 'utf8'));
  return (json.updates?.[0] ?? json).object.message;
};
const skip = haveSamples ? false : `VK samples not found at ${samples}`;

describe('photo collection from VK messages', () => {
  it('takes the largest size of an attached photo (chat capture with w)', { skip }, () => {
    const photos = collectPhotos(sample('message_new_photo_chat.json'));
    assert.equal(photos.length, 1);
    assert.equal(photos[0]?.origin, 'attachment');
    const msg = sample('message_new_photo_chat.json');
    const att = msg.attachments?.[0] as { photo: { sizes: { type: string; url: string; width: number; height: number }[] } };
    const biggest = [...att.photo.sizes].sort((a, b) => b.width * b.height - a.width * a.height)[0];
    assert.equal(photos[0]?.url, biggest?.url);
  });
  it('prefers orig_photo when VK gives it', { skip }, () => {
    const msg = sample('message_new_photo_dm_modern.json');
    const photos = collectPhotos(msg);
    const orig = (msg.attachments?.[0] as { photo: { orig_photo: { url: string } } }).photo.orig_photo.url;
    assert.deepEqual(photos, [{ origin: 'attachment', url: orig }]);
  });
  it('finds two photos in one message', { skip }, () => {
    assert.equal(collectPhotos(sample('message_new_two_photos_dm.json')).length, 2);
  });
  it('finds a photo inside a forwarded message', { skip }, () => {
    const photos = collectPhotos(sample('message_new_forward_with_photo.json'));
    assert.equal(photos.length, 1);
    assert.equal(photos[0]?.origin, 'forward');
  });
  it('takes an image sent as a document', { skip }, () => {
    const png = collectPhotos(sample('message_new_doc_image_png.json'));
    assert.equal(png.length, 1);
    assert.equal(png[0]?.origin, 'document');
  });
  it('finds nothing in a text message', { skip }, () => {
    assert.deepEqual(collectPhotos(sample('message_new_text_dm.json')), []);
  });
  it('does not recurse without end into hostile nesting', () => {
    let msg: RawMessage = { attachments: [{ type: 'photo', photo: { sizes: [{ type: 'x', url: 'https://a.userapi.com/deep.jpg', width: 1, height: 1 }] } }] };
    for (let i = 0; i < 1000; i += 1) msg = { fwd_messages: [msg] };
    assert.deepEqual(collectPhotos(msg), []);
  });
  it('falls back to size letters when dimensions are missing', () => {
    const msg: RawMessage = {
      attachments: [{ type: 'photo', photo: { sizes: [{ type: 'w', url: 'W' }, { type: 's', url: 'S' }, { type: 'x', url: 'X' }] } }],
    };
    assert.equal(collectPhotos(msg)[0]?.url, 'W');
  });
  it('parses a message and refuses one without ids', () => {
    assert.throws(() => parseIncoming({ text: 'x' }, 0), { code: 'malformed_message' });
    const m = parseIncoming({ peer_id: 5, from_id: 5, conversation_message_id: 9, date: 100, text: 'hi' }, 0);
    assert.equal(m.sentAt, 100_000);
    assert.equal(m.messageId, 0);
  });
});

describe('trigger phrase', () => {
  it('accepts case, spacing, punctuation, ё and a chat mention', () => {
    for (const text of ['подать заявку', 'Подать  заявку!', ' ПОДАТЬ ЗАЯВКУ ', '[club1|Бот], подать заявку', 'подать заявку пожалуйста']) {
      assert.ok(isTrigger(text, 'подать заявку'), text);
    }
  });
  it('rejects other text', () => {
    for (const text of ['', 'привет', 'подать', 'не подать заявку', 'подать заявкуу']) assert.ok(!isTrigger(text, 'подать заявку'), text);
  });
});
