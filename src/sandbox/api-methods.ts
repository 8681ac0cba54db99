// The VK API methods the sandbox answers, each a function from request params to a `response` value.

import type { LongPoll } from './longpoll.ts';
import { foreignFromStored, messageJson, messageReplyUpdate } from './message-json.ts';
import type { MediaStore } from './photos.ts';
import {
  CHAT_PEER_OFFSET,
  isChatPeer,
  isUserPeer,
  type ForeignMessage,
  type SandboxState,
  type StoredMessage,
  type Conversation,
} from './state.ts';
import type { Json, JsonObject, SandboxEnv, VkAttachment } from './types.ts';
import { VkApiError, vkErrorText } from './vk-errors.ts';

export type MethodHandler = (params: Params) => Json | Promise<Json>;

export interface ApiMethodDeps {
  env: SandboxEnv;
  state: SandboxState;
  media: MediaStore;
  longPoll: LongPoll;
  textLimit: number;
}

/** Request params with VK's own complaints for missing or malformed values. */
export class Params {
  constructor(private readonly values: ReadonlyMap<string, string>) {}

  has(name: string): boolean {
    const value = this.values.get(name);
    return value !== undefined && value !== '';
  }

  string(name: string): string | undefined {
    return this.values.get(name);
  }

  int(name: string): number | undefined {
    const raw = this.values.get(name);
    if (raw === undefined || raw === '') return undefined;
    if (!/^-?\d{1,16}$/.test(raw.trim())) throw new VkApiError(100, `${name} not integer`);
    return Number(raw.trim());
  }

  requiredInt(name: string): number {
    const value = this.int(name);
    if (value === undefined) throw new VkApiError(100, `${name} is undefined`);
    return value;
  }

  /** Comma list of integers (how vk-io serialises arrays). */
  intList(name: string): number[] | undefined {
    const raw = this.values.get(name);
    if (raw === undefined || raw.trim() === '') return undefined;
    return raw.split(',').map((part) => {
      if (!/^-?\d{1,16}$/.test(part.trim())) throw new VkApiError(100, `${name} is invalid`);
      return Number(part.trim());
    });
  }

  flag(name: string): boolean {
    const raw = this.values.get(name);
    return raw === '1' || raw === 'true';
  }
}

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

function windowed<T>(items: T[], params: Params, defaultCount: number): T[] {
  const offset = params.int('offset') ?? 0;
  const count = params.int('count') ?? defaultCount;
  if (offset < 0) throw new VkApiError(100, 'offset should be positive');
  if (count < 0 || count > 200) throw new VkApiError(100, 'count should be less or equal to 200');
  return items.slice(offset, offset + count);
}

export function createApiMethods(deps: ApiMethodDeps): Map<string, MethodHandler> {
  const { env, state, media, longPoll } = deps;

  const groupJson = (): JsonObject => ({
    id: env.groupId,
    name: 'zakadrom sandbox',
    screen_name: `club${env.groupId}`,
    is_closed: 0,
    type: 'group',
  });

  /** Parses forward / reply_to / forward_messages into a reply and forwarded messages. */
  const quoted = (params: Params, peerId: number): { reply?: ForeignMessage; fwd: ForeignMessage[] } => {
    const fwd: ForeignMessage[] = [];
    let reply: ForeignMessage | undefined;
    const replyTo = params.int('reply_to');
    if (replyTo !== undefined) {
      const target = state.findById(replyTo);
      if (target === undefined || target.peerId !== peerId) throw new VkApiError(100, 'reply_to is invalid');
      reply = foreignFromStored(target);
    }
    for (const id of params.intList('forward_messages') ?? []) {
      const target = state.findById(id);
      if (target === undefined) throw new VkApiError(921);
      fwd.push(foreignFromStored(target));
    }
    const forwardRaw = params.string('forward');
    if (forwardRaw !== undefined && forwardRaw !== '') {
      let forward: unknown;
      try {
        forward = JSON.parse(forwardRaw);
      } catch {
        throw new VkApiError(100, 'forward is invalid json');
      }
      if (forward === null || typeof forward !== 'object' || Array.isArray(forward)) {
        throw new VkApiError(100, 'forward should be an object');
      }
      const spec = forward as Record<string, unknown>;
      const sourcePeer = spec['peer_id'] === undefined ? peerId : Number(spec['peer_id']);
      // vk-io's reply() sends conversation_message_ids as a bare number, not an array.
      const list = (value: unknown): number[] =>
        value === undefined
          ? []
          : (Array.isArray(value) ? value : String(value).split(',')).map((item) => Number(item));
      const found: StoredMessage[] = [];
      for (const cmid of list(spec['conversation_message_ids'])) {
        const target = state.findByCmid(sourcePeer, cmid);
        if (target === undefined) throw new VkApiError(921);
        found.push(target);
      }
      for (const id of list(spec['message_ids'])) {
        const target = state.findById(id);
        if (target === undefined) throw new VkApiError(921);
        found.push(target);
      }
      const isReply = spec['is_reply'] === true || spec['is_reply'] === 1 || spec['is_reply'] === '1';
      if (isReply) {
        const [first] = found;
        if (first === undefined || found.length !== 1 || first.peerId !== peerId) {
          throw new VkApiError(100, 'forward: a reply needs exactly one message of this conversation');
        }
        reply = foreignFromStored(first);
      } else {
        fwd.push(...found.map(foreignFromStored));
      }
    }
    if (fwd.length > 100) throw new VkApiError(913);
    return { reply, fwd };
  };

  const send: MethodHandler = (params) => {
    const randomRaw = params.string('random_id');
    if (randomRaw === undefined || randomRaw.trim() === '') {
      throw new VkApiError(100, 'random_id is a required parameter');
    }
    if (!/^-?\d{1,19}$/.test(randomRaw.trim())) throw new VkApiError(100, 'random_id not integer');
    // A string key: vk-io's random ids go above 2^53 and must not be rounded into each other.
    const randomId = BigInt(randomRaw.trim()).toString();

    const multi = params.has('peer_ids');
    let peers: number[];
    if (multi) {
      peers = params.intList('peer_ids') ?? [];
      if (peers.length > 100) throw new VkApiError(100, 'peer_ids is too long');
    } else {
      const peerId = params.int('peer_id') ?? params.int('user_id');
      const chatId = params.int('chat_id');
      if (peerId !== undefined) peers = [peerId];
      else if (chatId !== undefined) peers = [CHAT_PEER_OFFSET + chatId];
      else throw new VkApiError(100, 'you should specify peer_id, user_id, domain, chat_id or user_ids param');
    }
    for (const peer of peers) {
      if (!isUserPeer(peer) && !isChatPeer(peer)) throw new VkApiError(100, 'peer_id is invalid');
    }

    const text = params.string('message') ?? '';
    if (codePoints(text) > deps.textLimit) throw new VkApiError(914);

    const attachments: VkAttachment[] = [];
    const attachmentRaw = params.string('attachment');
    if (attachmentRaw !== undefined && attachmentRaw.trim() !== '') {
      for (const ref of attachmentRaw.split(',')) {
        const attachment = media.findAttachment(ref);
        if (attachment === null) throw new VkApiError(100, `attachment is invalid: ${ref.trim()}`);
        attachments.push(attachment);
      }
      if (attachments.length > 10) throw new VkApiError(100, 'too many attachments');
    }

    let keyboard: Json | undefined;
    const keyboardRaw = params.string('keyboard');
    if (keyboardRaw !== undefined && keyboardRaw !== '') {
      try {
        keyboard = JSON.parse(keyboardRaw) as Json;
      } catch {
        throw new VkApiError(911);
      }
    }

    const results: JsonObject[] = [];
    for (const peerId of peers) {
      const { reply, fwd } = quoted(params, peerId);
      if (text.trim() === '' && attachments.length === 0 && fwd.length === 0) {
        throw new VkApiError(100, 'message is empty or invalid');
      }
      const denied = state.sendPermission(peerId);
      if (denied !== 0) {
        if (!multi) throw new VkApiError(denied);
        results.push({ peer_id: peerId, error: { code: denied, description: vkErrorText(denied) } });
        continue;
      }
      const { message, duplicate } = state.addBotMessage(
        { peerId, fromId: -env.groupId, text, attachments, fwd, reply, keyboard, payload: params.string('payload') },
        randomId,
      );
      if (!duplicate) longPoll.push(messageReplyUpdate(env.groupId, message));
      results.push({ peer_id: peerId, message_id: message.id, conversation_message_id: message.cmid });
    }
    if (multi) return results;
    return (results[0]?.['message_id'] as number | undefined) ?? 0;
  };

  const conversationJson = (conversation: Conversation): JsonObject => {
    const last = conversation.messages.at(-1);
    const lastOut = conversation.messages.findLast((message) => message.out === 1);
    const readIn = conversation.messages[conversation.inReadCmid - 1];
    const unread = conversation.messages.filter(
      (message) => message.out === 0 && message.cmid > conversation.inReadCmid,
    ).length;
    const chat = isChatPeer(conversation.peerId);
    return {
      peer: {
        id: conversation.peerId,
        type: chat ? 'chat' : 'user',
        local_id: chat ? conversation.peerId - CHAT_PEER_OFFSET : conversation.peerId,
      },
      last_message_id: last?.id ?? 0,
      last_conversation_message_id: last?.cmid ?? 0,
      in_read: readIn?.id ?? 0,
      in_read_cmid: conversation.inReadCmid,
      // The user reads what the community writes at once.
      out_read: lastOut?.id ?? 0,
      out_read_cmid: lastOut?.cmid ?? 0,
      unread_count: unread > 0 ? unread : undefined,
      is_marked_unread: false,
      important: false,
      // The community has not answered yet when the newest message is the user's.
      unanswered: last !== undefined && last.out === 0,
      can_write: { allowed: state.sendPermission(conversation.peerId) === 0 },
      chat_settings: chat
        ? { title: `Chat ${conversation.peerId - CHAT_PEER_OFFSET}`, members_count: 2, state: 'in' }
        : undefined,
    };
  };

  const methods = new Map<string, MethodHandler>();

  methods.set('groups.getById', (params) => {
    const asked = params.string('group_ids') ?? params.string('group_id');
    if (asked !== undefined && asked !== '') {
      for (const id of asked.split(',')) {
        const trimmed = id.trim();
        if (trimmed !== String(env.groupId) && trimmed !== `club${env.groupId}`) {
          throw new VkApiError(100, 'group_ids is invalid');
        }
      }
    }
    // The >= 5.194 shape; vk-io 4.x destructures { groups: [group] }.
    return { groups: [groupJson()], profiles: [] };
  });

  methods.set('groups.getLongPollServer', (params) => {
    const groupId = params.requiredInt('group_id');
    if (groupId !== env.groupId) throw new VkApiError(100, 'group_id is invalid');
    return longPoll.serverInfo();
  });

  methods.set('groups.getLongPollSettings', (params) => {
    const groupId = params.requiredInt('group_id');
    if (groupId !== env.groupId) throw new VkApiError(100, 'group_id is invalid');
    return { is_enabled: true, api_version: '5.199', events: { message_new: 1, message_reply: 1 } };
  });

  methods.set('messages.send', send);

  methods.set('messages.getByConversationMessageId', (params) => {
    const peerId = params.requiredInt('peer_id');
    const cmids = params.intList('conversation_message_ids') ?? params.intList('cmids');
    if (cmids === undefined) throw new VkApiError(100, 'conversation_message_ids is undefined');
    if (cmids.length > 100) throw new VkApiError(100, 'conversation_message_ids is too long');
    const items = cmids
      .map((cmid) => state.findByCmid(peerId, cmid))
      .filter((message): message is StoredMessage => message !== undefined)
      .map((message) => messageJson(message));
    return { count: items.length, items };
  });

  methods.set('messages.getById', (params) => {
    const ids = params.intList('message_ids');
    if (ids === undefined) throw new VkApiError(100, 'message_ids is undefined');
    if (ids.length > 100) throw new VkApiError(100, 'message_ids is too long');
    const items = ids
      .map((id) => state.findById(id))
      .filter((message): message is StoredMessage => message !== undefined)
      .map((message) => messageJson(message));
    return { count: items.length, items };
  });

  methods.set('messages.getConversations', (params) => {
    const filter = params.string('filter') ?? 'all';
    let conversations = state.conversations();
    if (filter === 'unanswered') {
      conversations = conversations.filter((conversation) => conversation.messages.at(-1)?.out === 0);
    } else if (filter === 'unread') {
      conversations = conversations.filter((conversation) =>
        conversation.messages.some((message) => message.out === 0 && message.cmid > conversation.inReadCmid),
      );
    } else if (filter === 'important') {
      conversations = [];
    } else if (filter !== 'all') {
      throw new VkApiError(100, 'filter is invalid');
    }
    const unreadTotal = state
      .conversations()
      .filter((conversation) =>
        conversation.messages.some((message) => message.out === 0 && message.cmid > conversation.inReadCmid),
      ).length;
    const items = windowed(conversations, params, 20).map((conversation) => ({
      conversation: conversationJson(conversation),
      last_message: conversation.messages.length > 0 ? messageJson(conversation.messages.at(-1) as StoredMessage) : undefined,
    }));
    return { count: conversations.length, items, unread_count: unreadTotal > 0 ? unreadTotal : undefined };
  });

  methods.set('messages.getHistory', (params) => {
    const peerId = params.int('peer_id') ?? params.int('user_id');
    if (peerId === undefined) throw new VkApiError(100, 'peer_id is undefined');
    const conversation = state.conversation(peerId);
    if (conversation === undefined) return { count: 0, items: [] };
    // rev=1: oldest first; default: newest first (VK's order).
    const ordered = params.flag('rev') ? [...conversation.messages] : [...conversation.messages].reverse();
    const startId = params.int('start_message_id');
    const startCmid = params.int('start_cmid');
    let base = 0;
    if (startId !== undefined && startId > 0) {
      base = ordered.findIndex((message) => message.id === startId);
    } else if (startCmid !== undefined && startCmid > 0) {
      base = ordered.findIndex((message) => message.cmid === startCmid);
    }
    if (base < 0) return { count: conversation.messages.length, items: [] };
    const offset = params.int('offset') ?? 0;
    const count = params.int('count') ?? 20;
    if (count < 0 || count > 200) throw new VkApiError(100, 'count should be less or equal to 200');
    // With a start message a negative offset reaches newer messages, as in VK.
    const from = Math.max(0, base + offset);
    const items = ordered.slice(from, from + count).map((message) => messageJson(message));
    return { count: conversation.messages.length, items };
  });

  methods.set('messages.markAsRead', (params) => {
    const peerId = params.requiredInt('peer_id');
    const startId = params.int('start_message_id');
    const upTo = params.int('up_to_cmid') ?? (startId === undefined ? undefined : state.findById(startId)?.cmid);
    state.markRead(peerId, upTo);
    return 1;
  });

  methods.set('messages.setActivity', (params) => {
    params.requiredInt('peer_id');
    return 1;
  });

  methods.set('utils.getServerTime', () => Math.floor(env.now() / 1000));

  return methods;
}
