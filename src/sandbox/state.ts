// Users, conversations and messages of the emulated community, with VK's ids and random_id dedup.

import type { Json, SandboxEnv, VkAttachment } from './types.ts';

/** VK's peer id offset for chats: chat N is peer 2000000000 + N. */
export const CHAT_PEER_OFFSET = 2_000_000_000;

export function isChatPeer(peerId: number): boolean {
  return peerId > CHAT_PEER_OFFSET;
}

export function isUserPeer(peerId: number): boolean {
  return Number.isInteger(peerId) && peerId > 0 && peerId < CHAT_PEER_OFFSET;
}

/** A message quoted inside another (reply_message / fwd_messages item). */
export interface ForeignMessage {
  date: number;
  fromId: number;
  text: string;
  attachments: VkAttachment[];
  cmid: number;
  /** Present when the quoted message lives in the same conversation (replies to a stored message). */
  peerId?: number;
  id?: number;
  fwd: ForeignMessage[];
}

export interface StoredMessage {
  /** Creation order across all conversations. */
  seq: number;
  /** The id the community sees: 0 in chats, as VK gives bots there. */
  id: number;
  peerId: number;
  cmid: number;
  fromId: number;
  out: 0 | 1;
  text: string;
  date: number;
  /** Decimal string: vk-io sends values above 2^53. "0" when none. */
  randomId: string;
  attachments: VkAttachment[];
  fwd: ForeignMessage[];
  reply?: ForeignMessage;
  isCropped: boolean;
  version: number;
  keyboard?: Json;
  payload?: string;
}

export interface Conversation {
  peerId: number;
  messages: StoredMessage[];
  nextCmid: number;
  /** cmid of the last incoming message the community marked read. */
  inReadCmid: number;
}

export interface NewMessage {
  peerId: number;
  fromId: number;
  text: string;
  attachments: VkAttachment[];
  fwd: ForeignMessage[];
  reply?: ForeignMessage;
  isCropped?: boolean;
  keyboard?: Json;
  payload?: string;
}

export class SandboxState {
  private readonly conversationsByPeer = new Map<number, Conversation>();
  private readonly messagesById = new Map<number, StoredMessage>();
  /** (peer, random_id) -> the message it created; VK checks uniqueness over the whole history. */
  private readonly sent = new Map<string, StoredMessage>();
  /** Users who wrote to the community; writing to anyone else is 901. */
  private readonly allowedUsers = new Set<number>();
  private nextMessageId = 1;
  private nextSeq = 1;
  private nextVersion = 10_000_001;

  constructor(private readonly env: SandboxEnv) {}

  /** A user's message: it also lets the community write to that user from now on. */
  addUserMessage(input: NewMessage): StoredMessage {
    this.allowedUsers.add(input.fromId);
    return this.append(input, 0, '0');
  }

  /**
   * The community's message, or the one an earlier send with the same random_id created:
   * a repeat adds nothing, so a retried send can never show twice.
   */
  addBotMessage(input: NewMessage, randomId: string): { message: StoredMessage; duplicate: boolean } {
    if (randomId !== '0') {
      const earlier = this.sent.get(`${input.peerId}:${randomId}`);
      if (earlier !== undefined) return { message: earlier, duplicate: true };
    }
    const message = this.append(input, 1, randomId);
    if (randomId !== '0') this.sent.set(`${input.peerId}:${randomId}`, message);
    return { message, duplicate: false };
  }

  /** 0 when the community may write to the peer, else the VK error code. */
  sendPermission(peerId: number): 0 | 901 | 917 {
    if (isChatPeer(peerId)) return this.conversationsByPeer.has(peerId) ? 0 : 917;
    return this.allowedUsers.has(peerId) ? 0 : 901;
  }

  isAllowed(userId: number): boolean {
    return this.allowedUsers.has(userId);
  }

  conversation(peerId: number): Conversation | undefined {
    return this.conversationsByPeer.get(peerId);
  }

  /** Conversations with the most recent message first, as messages.getConversations orders them. */
  conversations(): Conversation[] {
    return [...this.conversationsByPeer.values()].sort((a, b) => lastSeq(b) - lastSeq(a));
  }

  findById(id: number): StoredMessage | undefined {
    return this.messagesById.get(id);
  }

  findByCmid(peerId: number, cmid: number): StoredMessage | undefined {
    const conversation = this.conversationsByPeer.get(peerId);
    // cmids are dense from 1, so the index is cmid - 1.
    const message = conversation?.messages[cmid - 1];
    return message?.cmid === cmid ? message : undefined;
  }

  allMessages(): StoredMessage[] {
    const all: StoredMessage[] = [];
    for (const conversation of this.conversationsByPeer.values()) all.push(...conversation.messages);
    return all.sort((a, b) => a.seq - b.seq);
  }

  markRead(peerId: number, upToCmid?: number): boolean {
    const conversation = this.conversationsByPeer.get(peerId);
    if (conversation === undefined) return false;
    const last = conversation.messages.at(-1)?.cmid ?? 0;
    conversation.inReadCmid = Math.max(conversation.inReadCmid, Math.min(upToCmid ?? last, last));
    return true;
  }

  private append(input: NewMessage, out: 0 | 1, randomId: string): StoredMessage {
    let conversation = this.conversationsByPeer.get(input.peerId);
    if (conversation === undefined) {
      conversation = { peerId: input.peerId, messages: [], nextCmid: 1, inReadCmid: 0 };
      this.conversationsByPeer.set(input.peerId, conversation);
    }
    const message: StoredMessage = {
      seq: this.nextSeq++,
      id: isChatPeer(input.peerId) ? 0 : this.nextMessageId++,
      peerId: input.peerId,
      cmid: conversation.nextCmid++,
      fromId: input.fromId,
      out,
      text: input.text,
      date: Math.floor(this.env.now() / 1000),
      randomId,
      attachments: input.attachments,
      fwd: input.fwd,
      reply: input.reply,
      isCropped: input.isCropped === true,
      version: this.nextVersion++,
      keyboard: input.keyboard,
      payload: input.payload,
    };
    conversation.messages.push(message);
    if (message.id !== 0) this.messagesById.set(message.id, message);
    // Whatever the community says marks everything before it as read.
    if (out === 1) conversation.inReadCmid = message.cmid;
    return message;
  }
}

function lastSeq(conversation: Conversation): number {
  return conversation.messages.at(-1)?.seq ?? 0;
}
