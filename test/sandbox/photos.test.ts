// Photo size ladders and the bytes behind every size URL, with real photos through the real worker pool.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { docPreviewLadder, photoSizeLadder } from '../../src/sandbox/photo-sizes.ts';
import { docTypeForExt, extOf } from '../../src/sandbox/photos.ts';
import {
  b64,
  download,
  jpegSize,
  makePng,
  NEEDS_SHARED,
  request,
  sharedBytes,
  startHarness,
  userSends,
  type Harness,
} from './harness.ts';

const T = { timeout: 20_000 };

function ladder(width: number | null, height: number | null): string[] {
  return photoSizeLadder(width, height).map(
    (size) => `${size.type}:${size.width}x${size.height}${size.original ? '=' : ''}`,
  );
}

describe('size ladders (dev.vk.com photo-sizes)', () => {
  it('stops at the first proportional copy that holds the original, never upscaling', () => {
    // The real 2021 capture of a 266x109 image had s, m, x(266) and o, p, q, r. VK crops o and p of
    // so wide an image to 3:2 (130x87); the sandbox only fits (no crop op), so sizes match the bytes.
    assert.deepEqual(ladder(266, 109), ['s:75x31', 'm:130x53', 'x:266x109=', 'o:130x53', 'p:200x82', 'q:266x109=', 'r:266x109=']);
    // Up to 3:2 the o..r copies are proportional with a maximum width, so portraits get tall ones.
    assert.deepEqual(ladder(1200, 2600).slice(-4), ['o:130x282', 'p:200x433', 'q:320x693', 'r:510x1105']);
    // A 960x834 original stops at z (960x834), as in the real forward capture.
    assert.deepEqual(ladder(960, 834).slice(0, 5), ['s:75x65', 'm:130x113', 'x:604x525', 'y:807x701', 'z:960x834=']);
  });

  it('fits z into 1080x1024 and w into 2560x2048; a photo larger than w has no original-sized copy', () => {
    assert.deepEqual(ladder(4000, 3000).slice(0, 6), ['s:75x56', 'm:130x98', 'x:604x453', 'y:807x605', 'z:1080x810', 'w:2560x1920']);
    assert.deepEqual(ladder(3000, 4000).slice(4, 6), ['z:768x1024', 'w:1536x2048']);
    assert.ok(photoSizeLadder(4000, 3000).every((size) => !size.original));
  });

  it('keeps s and m for tiny photos and lists every type at 0x0 when the size is unknown', () => {
    assert.deepEqual(ladder(50, 40).slice(0, 2), ['s:50x40=', 'm:50x40=']);
    assert.deepEqual(ladder(null, null), ['s', 'm', 'x', 'y', 'z', 'w', 'o', 'p', 'q', 'r'].map((type) => `${type}:0x0=`));
  });

  it('document previews: s 100x75, m 130x100, larger steps below the original, o = original', () => {
    const sizes = docPreviewLadder(4032, 3024)?.map((size) => `${size.type}:${size.width}x${size.height}`);
    assert.deepEqual(sizes, ['s:100x75', 'm:130x98', 'x:604x453', 'y:807x605', 'z:1280x960', 'o:4032x3024']);
    assert.equal(docPreviewLadder(null, 10), null);
  });

  it('document type and extension come from the title, like VK: gif 3, images 4, anything else 8', () => {
    assert.deepEqual(
      ['a.GIF', 'IMG_1.JPG', 'x.jpeg', 'p.png', 'w.webp', 'i.heic', 'notes.txt', 'archive.zip', 'noext', '.hidden'].map(
        (title) => `${extOf(title)}:${docTypeForExt(extOf(title))}`,
      ),
      ['gif:3', 'jpg:4', 'jpeg:4', 'png:4', 'webp:4', 'heic:4', 'txt:8', 'zip:8', ':8', ':8'],
    );
  });
});

describe('photo bytes', () => {
  let harness: Harness;

  before(async () => {
    // bun test shows skips without their reason; say it once here.
    if (NEEDS_SHARED) console.log(`skipping the real-photo tests: ${NEEDS_SHARED}`);
    harness = await startHarness();
  });

  after(async () => {
    await harness?.close();
  });

  async function sendPhoto(bytes: Uint8Array, fromId = 100001): Promise<any> {
    const sent = await userSends(harness.sandbox, { from_id: fromId, text: 'photo', photos: [b64(bytes)] });
    const { json } = await request(harness.sandbox, 'GET', `/sandbox/messages?peer_id=${sent.peer_id}`);
    return json.items.find((item: any) => item.conversation_message_id === sent.conversation_message_id).attachments[0].photo;
  }

  it('sizes follow the upright size (EXIF orientation 6); the w copy is the original, smaller ones upright JPEGs', { ...T, skip: NEEDS_SHARED }, async () => {
    const original = sharedBytes('corpus/photos/orient_Landscape_6.jpg'); // stored 1200x1800, upright 1800x1200
    const photo = await sendPhoto(original);
    const byType = new Map(photo.sizes.map((size: any) => [size.type, size]));
    assert.equal(photo.orig_photo.width, 1800);
    assert.equal(photo.orig_photo.height, 1200);
    const w: any = byType.get('w');
    assert.equal(`${w.width}x${w.height}`, '1800x1200');
    assert.ok((await download(w.url)).bytes.equals(original), 'EXIF and all');
    const y: any = byType.get('y');
    assert.equal(`${y.width}x${y.height}`, '807x538');
    const copy = await download(y.url);
    assert.equal(copy.type, 'image/jpeg');
    assert.deepEqual(jpegSize(copy.bytes), { width: 807, height: 538 }, 'resized upright, not sideways');
  });

  it('a phone photo bigger than w: every size is a resized copy, orig_photo the original', { ...T, skip: NEEDS_SHARED }, async () => {
    const original = sharedBytes('corpus/photos/phone_jolla.jpg'); // 3264x2448
    const photo = await sendPhoto(original);
    const w = photo.sizes.find((size: any) => size.type === 'w');
    assert.equal(`${w.width}x${w.height}`, '2560x1920');
    const copy = await download(w.url);
    assert.ok(!copy.bytes.equals(original));
    assert.deepEqual(jpegSize(copy.bytes), { width: 2560, height: 1920 });
    assert.ok((await download(photo.orig_photo.url)).bytes.equals(original));
  });

  it('undecodable or refused images (bomb, SVG, empty, truncated) are accepted and served as sent', { ...T, skip: NEEDS_SHARED }, async () => {
    for (const name of ['bomb_50000x50000.png', 'svg_xxe_entity.svg', 'empty.jpg', 'bmp_named.jpg']) {
      const original = sharedBytes(`cases/img/${name}`);
      const photo = await sendPhoto(original);
      assert.equal(photo.orig_photo.width, 0, name);
      for (const size of photo.sizes) {
        assert.ok((await download(size.url)).bytes.equals(original), `${name} ${size.type}`);
      }
    }
    // The header of a truncated JPEG reads fine, so it gets a ladder; a copy that cannot be made is the original.
    const truncated = sharedBytes('cases/img/truncated_55pct.jpg');
    const photo = await sendPhoto(truncated);
    assert.equal(photo.orig_photo.width, 640);
    const s = photo.sizes.find((size: any) => size.type === 's');
    assert.equal(`${s.width}x${s.height}`, '75x50');
    assert.ok((await download(s.url)).bytes.equals(truncated));
    assert.ok(harness.lines.some((line) => line.includes('resize to s failed')));
  });

  it('a copy is made once, however many clients ask for it at the same time', T, async () => {
    const photo = await sendPhoto(makePng(900, 700));
    const x = photo.sizes.find((size: any) => size.type === 'x');
    const before = harness.pool.stats().completed;
    const copies = await Promise.all(Array.from({ length: 6 }, () => download(x.url)));
    assert.equal(harness.pool.stats().completed - before, 1);
    assert.ok(copies.every((copy) => copy.bytes.equals(copies[0]?.bytes as Buffer)));
    assert.deepEqual(jpegSize(copies[0]?.bytes as Buffer), { width: 604, height: 470 });
  });

  it('unknown photo ids, size types and paths are 404', T, async () => {
    const photo = await sendPhoto(makePng(100, 100));
    assert.equal((await download(photo.sizes[0].url.replace(/\/s\.jpg$/, '/w.jpg'))).status, 404);
    assert.equal((await download(`${harness.sandbox.baseUrl}/photos/1/s.jpg`)).status, 404);
    assert.equal((await download(`${harness.sandbox.baseUrl}/docs/1/x.png`)).status, 404);
  });

  it('HEAD answers the length without a body', T, async () => {
    const png = makePng(20, 20);
    const photo = await sendPhoto(png);
    const res = await fetch(photo.orig_photo.url, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(png.length));
    assert.equal(res.headers.get('content-type'), 'image/png');
  });
});
