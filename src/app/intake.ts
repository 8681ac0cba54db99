// Intake: ONE transaction per incoming message records it under its dedup key and, for an
// application, the application, its photos, one analysis job per photo and the acknowledgement.
import type { Database } from '../db/driver.ts';
import { applicationsSince, insertApplication, insertPhoto, recordUpdate } from '../db/applications.ts';
import { queueMessage, sentRecently } from '../outbox/store.ts';
import { enqueue } from '../queue/jobs.ts';
import { isTrigger, type IncomingMessage } from '../vk/incoming.ts';
import { fill, type Texts } from './texts.ts';

export const ANALYSE_PHOTO = 'analyse_photo';

export interface IntakeSettings {
  /**
   * Which VK world the messages come from: message numbers are unique only within it. 'vk' for
   * VK or a standalone sandbox; each start of the bot's own sandbox is a new world.
   */
  scope: string;
  trigger: string;
  hints: boolean;
  maxPhotos: number;
  jobAttempts: number;
  textLimit: number;
  /** Applications one user may start per hour; more get a polite refusal and queue nothing. */
  perUserHourly: number;
}

export type IntakeResult =
  | { kind: 'duplicate' }
  | { kind: 'ignored' }
  | { kind: 'no_photo' | 'hint' | 'over_limit' }
  | { kind: 'application'; applicationId: number; photos: number };

/** VK numbers messages per conversation; the pair names one message whatever the transport. */
export function dedupKey(scope: string, msg: Pick<IncomingMessage, 'peerId' | 'conversationMessageId'>): string {
  return `${scope}:message:${msg.peerId}:${msg.conversationMessageId}`;
}

const CHAT_PEER_OFFSET = 2_000_000_000;
const HOUR_MS = 3_600_000;
const HINT_EVERY_MS = 15 * 60_000;

export function takeMessage(
  db: Database,
  msg: IncomingMessage,
  eventId: string | null,
  settings: IntakeSettings,
  texts: Texts,
  now: number,
  random: () => number,
): IntakeResult {
  const isChat = msg.peerId > CHAT_PEER_OFFSET;
  // In a chat the phrase must open the message (people discuss applications there); in private
  // messages it may stand anywhere ("хочу подать заявку").
  const trigger = isTrigger(msg.text, settings.trigger, isChat ? 'start' : 'anywhere');
  // Chats are busy: only the trigger is answered there. In private messages a hint helps.
  if (!trigger && (isChat || !settings.hints)) return { kind: 'ignored' };

  return db.transaction((): IntakeResult => {
    const overLimit =
      trigger && msg.photos.length > 0 && applicationsSince(db, msg.fromId, now - HOUR_MS) >= settings.perUserHourly;
    const outcome = !trigger ? 'hint' : msg.photos.length === 0 ? 'no_photo' : overLimit ? 'over_limit' : 'application';
    if (outcome === 'hint' && sentRecently(db, msg.peerId, 'hint', now - HINT_EVERY_MS)) {
      return { kind: 'ignored' }; // one hint per quarter of an hour is help; more is noise
    }
    const fresh = recordUpdate(
      db,
      { dedupKey: dedupKey(settings.scope, msg), eventId, peerId: msg.peerId, fromId: msg.fromId, outcome },
      now,
    );
    if (!fresh) return { kind: 'duplicate' };
    const reply = (message: string, purpose: 'ack' | 'no_photo' | 'hint' | 'over_limit', applicationId: number | null) =>
      queueMessage(db, { peerId: msg.peerId, message, purpose, applicationId }, settings.textLimit, now, random);
    if (outcome !== 'application') {
      const text = { hint: texts.hint, no_photo: texts.noPhoto, over_limit: fill(texts.overLimit, { limit: settings.perUserHourly }) }[outcome];
      reply(text, outcome, null);
      return { kind: outcome };
    }
    const photos = msg.photos.slice(0, settings.maxPhotos);
    const applicationId = insertApplication(
      db,
      {
        peerId: msg.peerId,
        fromId: msg.fromId,
        conversationMessageId: msg.conversationMessageId,
        messageId: msg.messageId,
        sentAt: msg.sentAt,
        photoCount: photos.length,
        photosReceived: msg.photos.length,
      },
      now,
    );
    photos.forEach((photo, i) => {
      const photoId = insertPhoto(db, { applicationId, position: i + 1, origin: photo.origin, url: photo.url });
      enqueue(db, { kind: ANALYSE_PHOTO, payload: { photoId }, maxAttempts: settings.jobAttempts }, now);
    });
    reply(texts.ack, 'ack', applicationId);
    return { kind: 'application', applicationId, photos: photos.length };
  });
}
