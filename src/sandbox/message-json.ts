// Stored messages rendered as VK 5.199 JSON: message objects, quoted messages and update envelopes.

import { randomBytes } from 'node:crypto';
import type { ForeignMessage, StoredMessage } from './state.ts';
import type { Json, JsonObject } from './types.ts';

export const API_VERSION = '5.199';

/** What a 5.199 community with every button type enabled reports (samples/message_new_text_dm.json). */
const CLIENT_INFO: JsonObject = {
  button_actions: [
    'text',
    'vkpay',
    'open_app',
    'location',
    'open_link',
    'open_photo',
    'callback',
    'intent_subscribe',
    'intent_unsubscribe',
  ],
  keyboard: true,
  inline_keyboard: true,
  carousel: true,
  lang_id: 0,
};

/** random_id as a JSON number; above 2^53 it goes out as exact digits (bigint), as VK writes it. */
export function randomIdJson(randomId: string): Json {
  const asNumber = Number(randomId);
  return Number.isSafeInteger(asNumber) ? asNumber : BigInt(randomId);
}

export function foreignJson(message: ForeignMessage): JsonObject {
  return {
    date: message.date,
    from_id: message.fromId,
    text: message.text,
    attachments: message.attachments,
    conversation_message_id: message.cmid,
    peer_id: message.peerId,
    id: message.id,
    fwd_messages: message.fwd.length > 0 ? message.fwd.map(foreignJson) : undefined,
  };
}

/** A stored message quoted by a reply: it keeps its ids, since it lives in the same conversation. */
export function foreignFromStored(message: StoredMessage): ForeignMessage {
  return {
    date: message.date,
    fromId: message.fromId,
    text: message.text,
    attachments: message.attachments,
    cmid: message.cmid,
    peerId: message.peerId,
    id: message.id,
    fwd: message.fwd,
  };
}

/**
 * The full message object (getById, getByConversationMessageId, getHistory). With `cropped`,
 * the Long Poll form of an is_cropped message: no attachments, forwards or reply until fetched.
 */
export function messageJson(message: StoredMessage, cropped = false): JsonObject {
  const hide = cropped && message.isCropped;
  return {
    date: message.date,
    from_id: message.fromId,
    id: message.id,
    version: message.version,
    out: message.out,
    fwd_messages: hide ? [] : message.fwd.map(foreignJson),
    important: false,
    is_hidden: false,
    attachments: hide ? [] : message.attachments,
    conversation_message_id: message.cmid,
    text: message.text,
    peer_id: message.peerId,
    random_id: randomIdJson(message.randomId),
    reply_message: hide || message.reply === undefined ? undefined : foreignJson(message.reply),
    keyboard: message.keyboard,
    payload: message.payload,
    is_cropped: hide ? true : undefined,
  };
}

function eventId(): string {
  return randomBytes(20).toString('hex');
}

/** message_new wraps the message with client_info (API >= 5.103). */
export function messageNewUpdate(groupId: number, message: StoredMessage): JsonObject {
  return {
    group_id: groupId,
    type: 'message_new',
    event_id: eventId(),
    v: API_VERSION,
    object: { message: messageJson(message, true), client_info: CLIENT_INFO },
  };
}

/** message_reply (the community's own outgoing message) carries the bare message object. */
export function messageReplyUpdate(groupId: number, message: StoredMessage): JsonObject {
  return {
    group_id: groupId,
    type: 'message_reply',
    event_id: eventId(),
    v: API_VERSION,
    object: messageJson(message),
  };
}
