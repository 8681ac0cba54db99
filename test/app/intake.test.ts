import assert from 'node:assert/strict';
import { after, beforeEach, describe, it } from 'node:test';
import { takeMessage, type IntakeSettings } from '../../src/app/intake.ts';
import { RUSSIAN_TEXTS } from '../../src/app/texts.ts';
import { parseIncoming, type RawMessage } from '../../src/vk/incoming.ts';
import { tempDb, type TempDb } from '../helpers/db.ts';

const settings: IntakeSettings = { scope: 'vk', trigger: 'подать заявку', hints: true, maxPhotos: 10, jobAttempts: 5, textLimit: 4000, perUserHourly: 3 };
const photo = (url: string) => ({ type: 'photo', photo: { sizes: [{ type: 'x', url, width: 604, height: 453 }] } });

function take(t: TempDb, raw: RawMessage) {
  return takeMessage(t.db, parseIncoming(raw, 0), null, settings, RUSSIAN_TEXTS, 1000, Math.random);
}
function counts(t: TempDb) {
  const n = (sql: string) => t.db.prepare(sql).get<{ n: number }>()?.n;
  return {
    applications: n('SELECT COUNT(*) AS n FROM applications'),
    photos: n('SELECT COUNT(*) AS n FROM photos'),
    jobs: n('SELECT COUNT(*) AS n FROM jobs'),
    outbox: n('SELECT COUNT(*) AS n FROM outbox'),
  };
}

describe('intake', () => {
  const t = tempDb();
  after(() => t.cleanup());
  beforeEach(() => t.db.exec('DELETE FROM outbox; DELETE FROM jobs; DELETE FROM photos; DELETE FROM applications; DELETE FROM updates;'));

  const base = { peer_id: 100001, from_id: 100001, date: 1, text: 'подать заявку' };

  it('records one application, its photo, one job and the acknowledgement in one go', () => {
    const r = take(t, { ...base, conversation_message_id: 1, attachments: [photo('https://sun9-1.userapi.com/a.jpg')] });
    assert.equal(r.kind, 'application');
    assert.deepEqual(counts(t), { applications: 1, photos: 1, jobs: 1, outbox: 1 });
    const ack = t.db.prepare('SELECT message, purpose, random_id FROM outbox').get<{ message: string; purpose: string; random_id: number }>();
    assert.equal(ack?.message, RUSSIAN_TEXTS.ack);
    assert.equal(ack?.purpose, 'ack');
    assert.ok(ack && ack.random_id > 0 && ack.random_id < 2 ** 31, 'random_id fixed at creation, int32');
  });

  it('takes the same update delivered twice once', () => {
    const raw = { ...base, conversation_message_id: 2, attachments: [photo('https://sun9-1.userapi.com/b.jpg')] };
    assert.equal(take(t, raw).kind, 'application');
    assert.equal(take(t, raw).kind, 'duplicate');
    assert.deepEqual(counts(t), { applications: 1, photos: 1, jobs: 1, outbox: 1 });
  });

  it('answers a trigger without a photo and queues nothing else', () => {
    assert.equal(take(t, { ...base, conversation_message_id: 3 }).kind, 'no_photo');
    assert.deepEqual(counts(t), { applications: 0, photos: 0, jobs: 0, outbox: 1 });
    assert.equal(t.db.prepare('SELECT message FROM outbox').get<{ message: string }>()?.message, 'Вы не прислали фотографию!');
  });

  it('makes one application of two photos in one message, a job each', () => {
    const r = take(t, {
      ...base,
      conversation_message_id: 4,
      attachments: [photo('https://sun9-1.userapi.com/c.jpg'), photo('https://sun9-1.userapi.com/d.jpg')],
    });
    assert.deepEqual(r.kind === 'application' && r.photos, 2);
    assert.deepEqual(counts(t), { applications: 1, photos: 2, jobs: 2, outbox: 1 });
  });

  it('takes a photo inside a forwarded message and inside a reply', () => {
    take(t, { ...base, conversation_message_id: 5, fwd_messages: [{ from_id: 7, text: '', attachments: [photo('https://sun9-1.userapi.com/f.jpg')] }] });
    take(t, { ...base, conversation_message_id: 6, reply_message: { from_id: 7, text: '', attachments: [photo('https://sun9-1.userapi.com/r.jpg')] } });
    const origins = t.db.prepare('SELECT origin FROM photos ORDER BY id').all<{ origin: string }>().map((r) => r.origin);
    assert.deepEqual(origins, ['forward', 'reply']);
  });

  it('hints in private messages, stays silent in chats', () => {
    assert.equal(take(t, { ...base, text: 'привет', conversation_message_id: 7 }).kind, 'hint');
    assert.equal(take(t, { ...base, peer_id: 2000000001, text: 'привет', conversation_message_id: 8 }).kind, 'ignored');
    assert.deepEqual(counts(t), { applications: 0, photos: 0, jobs: 0, outbox: 1 });
  });

  it('keeps at most maxPhotos photos', () => {
    const attachments = Array.from({ length: 14 }, (_, i) => photo(`https://sun9-1.userapi.com/${i}.jpg`));
    const r = take(t, { ...base, conversation_message_id: 9, attachments });
    assert.equal(r.kind === 'application' && r.photos, 10);
  });

  it('rolls back everything when any part fails', () => {
    t.db.exec('CREATE TEMP TRIGGER boom BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, \'disk trouble\'); END');
    try {
      assert.throws(() => take(t, { ...base, conversation_message_id: 10, attachments: [photo('https://sun9-1.userapi.com/z.jpg')] }));
    } finally {
      t.db.exec('DROP TRIGGER boom');
    }
    assert.deepEqual(counts(t), { applications: 0, photos: 0, jobs: 0, outbox: 0 });
    assert.equal(t.db.prepare('SELECT COUNT(*) AS n FROM updates').get<{ n: number }>()?.n, 0, 'the update can be taken again');
  });
});

describe('trigger placement', () => {
  const t = tempDb();
  after(() => t.cleanup());
  it('accepts the phrase anywhere in a private message, only at the start in a chat', () => {
    const photo1 = { type: 'photo', photo: { sizes: [{ type: 'x', url: 'https://sun9-1.userapi.com/p.jpg', width: 9, height: 9 }] } };
    const dm = take(t, { peer_id: 100002, from_id: 100002, date: 1, conversation_message_id: 1, text: 'Хочу подать заявку, вот фото', attachments: [photo1] });
    assert.equal(dm.kind, 'application');
    const chat = take(t, { peer_id: 2000000001, from_id: 100002, date: 1, conversation_message_id: 2, text: 'кто знает, как подать заявку?', attachments: [photo1] });
    assert.equal(chat.kind, 'ignored');
  });
  it('keeps updates of different VK worlds apart (each start of the built-in sandbox is one)', () => {
    const raw = { peer_id: 100003, from_id: 100003, date: 1, conversation_message_id: 1, text: 'подать заявку' };
    const inWorld = (scope: string) => takeMessage(t.db, parseIncoming(raw, 0), null, { ...settings, scope }, RUSSIAN_TEXTS, 0, Math.random);
    assert.equal(inWorld('sandbox-1').kind, 'no_photo');
    assert.equal(inWorld('sandbox-1').kind, 'duplicate');
    assert.equal(inWorld('sandbox-2').kind, 'no_photo');
  });
});

describe('per-user limit', () => {
  const t = tempDb();
  after(() => t.cleanup());
  it('refuses politely above the hourly limit, queues nothing, and lets others and later hours through', () => {
    const photo1 = { type: 'photo', photo: { sizes: [{ type: 'x', url: 'https://sun9-1.userapi.com/l.jpg', width: 9, height: 9 }] } };
    const at = (now: number, from: number, cmid: number) =>
      takeMessage(
        t.db,
        parseIncoming({ peer_id: from, from_id: from, date: 1, conversation_message_id: cmid, text: 'подать заявку', attachments: [photo1] }, 0),
        null,
        settings,
        RUSSIAN_TEXTS,
        now,
        Math.random,
      ).kind;
    assert.deepEqual([at(0, 7, 1), at(1, 7, 2), at(2, 7, 3)], ['application', 'application', 'application']);
    assert.equal(at(3, 7, 4), 'over_limit');
    assert.equal(at(4, 8, 1), 'application', 'another user is not limited');
    assert.equal(at(3_600_001, 7, 5), 'application', 'an hour later the user may apply again');
    const refusal = t.db.prepare(`SELECT message FROM outbox WHERE purpose = 'over_limit'`).get<{ message: string }>();
    assert.match(refusal?.message ?? '', /не больше 3/);
    assert.equal(t.db.prepare('SELECT COUNT(*) AS n FROM jobs').get<{ n: number }>()?.n, 5);
  });
});

describe('hints', () => {
  const t = tempDb();
  after(() => t.cleanup());
  it('hints a chatty user once per quarter of an hour, and a hint never goes before an application reply', async () => {
    const say = (now: number, cmid: number, from = 9) =>
      takeMessage(t.db, parseIncoming({ peer_id: from, from_id: from, date: 1, conversation_message_id: cmid, text: 'привет' }, 0), null, settings, RUSSIAN_TEXTS, now, Math.random).kind;
    assert.deepEqual([say(0, 1), say(1000, 2), say(15 * 60_000 + 1, 3)], ['hint', 'ignored', 'hint']);
    const { dueMessages } = await import('../../src/outbox/store.ts');
    takeMessage(t.db, parseIncoming({ peer_id: 10, from_id: 10, date: 1, conversation_message_id: 1, text: 'подать заявку' }, 0), null, settings, RUSSIAN_TEXTS, 2_000_000, Math.random);
    const due = dueMessages(t.db, 3_000_000, 10, new Set());
    assert.equal(due[0]?.purpose, 'no_photo', 'the reply to an application comes before older hints');
  });
});
