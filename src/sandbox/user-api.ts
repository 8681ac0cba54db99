// The /sandbox/* HTTP API through which people, tests and scripts act as VK users (a public contract).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallLog } from './call-log.ts';
import { FaultShapeError, type FaultSchedule } from './faults.ts';
import { readBody, sendBadRequest, sendJson } from './http-io.ts';
import type { LongPoll } from './longpoll.ts';
import { foreignFromStored, messageJson, messageNewUpdate } from './message-json.ts';
import type { MediaStore } from './photos.ts';
import { isChatPeer, isUserPeer, type ForeignMessage, type SandboxState } from './state.ts';
import type { Json, SandboxEnv, VkAttachment } from './types.ts';

/** Ten photos of a phone camera in base64 fit comfortably. */
const MESSAGE_BODY_LIMIT = 256 * 1024 * 1024;
const FAULT_BODY_LIMIT = 64 * 1024;
/** VK's limit of attachments per message. */
const MAX_ATTACHMENTS = 10;
const MAX_FORWARDS = 100;
const MAX_FORWARD_DEPTH = 5;

/** A user-API request the sandbox refuses; answered 400 with this message. */
export class UserInputError extends Error {
  readonly code = 'bad_request';
  constructor(message: string) {
    super(message);
    this.name = 'UserInputError';
  }
}

export interface UserApiDeps {
  env: SandboxEnv;
  state: SandboxState;
  media: MediaStore;
  longPoll: LongPoll;
  faults: FaultSchedule;
  callLog: CallLog;
  apiUrl: string;
}

/** Attachments of one message, decoded but not yet stored (storing probes, which is async). */
interface PendingMedia {
  photos: Uint8Array[];
  docs: Array<{ title: string; bytes: Uint8Array }>;
}

/** A quoted message as validated, before its media is stored. */
type PendingQuote =
  | { kind: 'stored'; quote: ForeignMessage }
  | { kind: 'inline'; fromId: number; text: string; date: number; media: PendingMedia; fwd: PendingQuote[] };

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function onlyKeys(value: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new UserInputError(`unknown field "${key}" in ${where} (allowed: ${allowed.join(', ')})`);
    }
  }
}

function decodeBase64(value: unknown, where: string): Uint8Array {
  if (typeof value !== 'string') throw new UserInputError(`${where} must be a base64 string`);
  // Accept data: URLs and wrapped base64, which is what people paste.
  const text = value.replace(/^data:[^,]*;base64,/, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text) || text.length % 4 === 1) {
    throw new UserInputError(`${where} is not valid base64`);
  }
  return new Uint8Array(Buffer.from(text, 'base64'));
}

function userId(value: unknown, where: string): number {
  if (typeof value !== 'number' || !isUserPeer(value)) {
    throw new UserInputError(`${where} must be a user id, an integer from 1 to 1999999999`);
  }
  return value;
}

function optionalText(value: unknown, where: string): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') throw new UserInputError(`${where} must be a string`);
  return value;
}

function parseMedia(body: Record<string, unknown>, where: string): PendingMedia {
  const photos: Uint8Array[] = [];
  const docs: Array<{ title: string; bytes: Uint8Array }> = [];
  if (body['photos'] !== undefined) {
    if (!Array.isArray(body['photos'])) throw new UserInputError(`${where}photos must be an array of base64 strings`);
    body['photos'].forEach((item, index) => photos.push(decodeBase64(item, `${where}photos[${index}]`)));
  }
  if (body['docs'] !== undefined) {
    if (!Array.isArray(body['docs'])) throw new UserInputError(`${where}docs must be an array of {title, base64}`);
    body['docs'].forEach((item, index) => {
      const at = `${where}docs[${index}]`;
      if (!isRecord(item)) throw new UserInputError(`${at} must be an object {title, base64}`);
      onlyKeys(item, ['title', 'base64'], at);
      const title = item['title'];
      if (typeof title !== 'string' || title.trim() === '' || title.includes('/') || title.length > 255) {
        throw new UserInputError(`${at}.title must be a non-empty file name without "/"`);
      }
      docs.push({ title, bytes: decodeBase64(item['base64'], `${at}.base64`) });
    });
  }
  if (photos.length + docs.length > MAX_ATTACHMENTS) {
    const label = where === '' ? 'the message' : where.slice(0, -1);
    throw new UserInputError(`${label} carries ${photos.length + docs.length} attachments; VK allows ${MAX_ATTACHMENTS}`);
  }
  return { photos, docs };
}

export class UserApi {
  constructor(private readonly deps: UserApiDeps) {}

  /** Handles /sandbox/*; every failure is a JSON answer naming the problem. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const route = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    try {
      if (route === '/sandbox/health' && method === 'GET') return sendJson(res, 200, { ok: true });
      if (route === '/sandbox/info' && method === 'GET') {
        return sendJson(res, 200, {
          baseUrl: this.deps.env.baseUrl,
          apiUrl: this.deps.apiUrl,
          groupId: this.deps.env.groupId,
        });
      }
      if (route === '/sandbox/messages' && method === 'POST') return await this.postMessage(req, res);
      if (route === '/sandbox/messages' && method === 'GET') return this.getMessages(res, url);
      if (route === '/sandbox/calls' && method === 'GET') {
        const filter = url.searchParams.get('method');
        return sendJson(res, 200, { items: this.deps.callLog.list(filter === null || filter === '' ? undefined : filter) });
      }
      if (route === '/sandbox/calls' && method === 'DELETE') {
        this.deps.callLog.clear();
        return sendJson(res, 200, { ok: true });
      }
      if (route === '/sandbox/downloads' && method === 'GET') {
        return sendJson(res, 200, { items: this.deps.callLog.listDownloads() });
      }
      if (route === '/sandbox/faults' && method === 'POST') return await this.postFault(req, res);
      if (route === '/sandbox/faults' && method === 'GET') return sendJson(res, 200, { items: this.deps.faults.list() });
      if (route === '/sandbox/faults' && method === 'DELETE') {
        this.deps.faults.clear();
        return sendJson(res, 200, { ok: true });
      }
      const faultId = /^\/sandbox\/faults\/(\d+)$/.exec(route);
      if (faultId !== null && method === 'DELETE') {
        const removed = this.deps.faults.remove(Number(faultId[1]));
        return sendJson(res, removed ? 200 : 404, removed ? { ok: true } : { error: `no fault ${faultId[1]}` });
      }
      const known = ['/sandbox/health', '/sandbox/info', '/sandbox/messages', '/sandbox/calls', '/sandbox/downloads', '/sandbox/faults'];
      if (known.includes(route) || faultId !== null) {
        return sendJson(res, 405, { error: `${method} is not supported on ${route}` });
      }
      return sendJson(res, 404, { error: `no such sandbox endpoint: ${route}` });
    } catch (error) {
      if (error instanceof UserInputError || error instanceof FaultShapeError) return sendBadRequest(res, error.message);
      throw error;
    }
  }

  private async readJson(req: IncomingMessage, limit: number): Promise<unknown> {
    const body = await readBody(req, limit);
    try {
      return JSON.parse(Buffer.from(body).toString('utf8'));
    } catch {
      throw new UserInputError('the body is not valid JSON');
    }
  }

  private async postFault(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await this.readJson(req, FAULT_BODY_LIMIT);
    const scheduled = this.deps.faults.add(body);
    // A held long poll takes a new long-poll fault at once, so "the next answer" is the faulty one.
    if (isRecord(body) && body['longpoll'] !== undefined) this.deps.longPoll.kick();
    sendJson(res, 200, scheduled);
  }

  private async postMessage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await this.readJson(req, MESSAGE_BODY_LIMIT);
    if (!isRecord(body)) throw new UserInputError('the body must be a JSON object like {"from_id": 100001, "text": "..."}');
    onlyKeys(body, ['from_id', 'peer_id', 'text', 'photos', 'docs', 'fwd', 'reply', 'is_cropped'], 'the message');
    const fromId = userId(body['from_id'], 'from_id');
    const peerId = body['peer_id'] === undefined ? fromId : body['peer_id'];
    if (typeof peerId !== 'number' || !(peerId === fromId || (Number.isInteger(peerId) && isChatPeer(peerId)))) {
      throw new UserInputError('peer_id must be the sender\'s own id (a direct message) or a chat peer above 2000000000');
    }
    const text = optionalText(body['text'], 'text');
    const media = parseMedia(body, '');
    if (body['is_cropped'] !== undefined && typeof body['is_cropped'] !== 'boolean') {
      throw new UserInputError('is_cropped must be a boolean');
    }
    const now = Math.floor(this.deps.env.now() / 1000);

    let fwd: PendingQuote[] = [];
    if (body['fwd'] !== undefined) {
      if (!Array.isArray(body['fwd'])) throw new UserInputError('fwd must be an array of messages or conversation_message_ids');
      if (body['fwd'].length > MAX_FORWARDS) throw new UserInputError(`fwd has more than ${MAX_FORWARDS} messages`);
      fwd = body['fwd'].map((item, index) => this.parseQuote(item, `fwd[${index}]`, peerId, fromId, now, 1));
    }
    const reply = body['reply'] === undefined ? undefined : this.parseQuote(body['reply'], 'reply', peerId, fromId, now, 1);
    if (text.trim() === '' && media.photos.length + media.docs.length === 0 && fwd.length === 0) {
      throw new UserInputError('the message needs "text", "photos", "docs" or "fwd"');
    }

    const [attachments, fwdMessages, replyMessage] = await Promise.all([
      this.store(media, fromId),
      Promise.all(fwd.map((quote) => this.resolveQuote(quote))),
      reply === undefined ? Promise.resolve(undefined) : this.resolveQuote(reply),
    ]);
    const message = this.deps.state.addUserMessage({
      peerId,
      fromId,
      text,
      attachments,
      fwd: fwdMessages,
      reply: replyMessage,
      isCropped: body['is_cropped'] === true,
    });
    this.deps.longPoll.push(messageNewUpdate(this.deps.env.groupId, message));
    sendJson(res, 200, { peer_id: message.peerId, message_id: message.id, conversation_message_id: message.cmid });
  }

  private parseQuote(value: unknown, where: string, peerId: number, senderId: number, now: number, depth: number): PendingQuote {
    if (typeof value === 'number') {
      const stored = Number.isInteger(value) ? this.deps.state.findByCmid(peerId, value) : undefined;
      if (stored === undefined) {
        throw new UserInputError(`${where}: no message with conversation_message_id ${value} in peer ${peerId}`);
      }
      return { kind: 'stored', quote: foreignFromStored(stored) };
    }
    if (!isRecord(value)) {
      throw new UserInputError(`${where} must be a conversation_message_id or an object {from_id, text, photos, docs}`);
    }
    onlyKeys(value, ['from_id', 'text', 'photos', 'docs', 'date', 'fwd'], where);
    let fromId = senderId;
    if (value['from_id'] !== undefined) {
      const given = value['from_id'];
      // A quoted message may come from a user or a community (negative id).
      if (typeof given !== 'number' || !Number.isInteger(given) || given === 0 || Math.abs(given) >= 2_000_000_000) {
        throw new UserInputError(`${where}.from_id must be a user id or a negative community id`);
      }
      fromId = given;
    }
    let date = now;
    if (value['date'] !== undefined) {
      if (typeof value['date'] !== 'number' || !Number.isInteger(value['date']) || value['date'] < 0) {
        throw new UserInputError(`${where}.date must be a unix time in seconds`);
      }
      date = value['date'];
    }
    let fwd: PendingQuote[] = [];
    if (value['fwd'] !== undefined) {
      if (depth >= MAX_FORWARD_DEPTH) throw new UserInputError(`${where}.fwd nests deeper than ${MAX_FORWARD_DEPTH}`);
      if (!Array.isArray(value['fwd'])) throw new UserInputError(`${where}.fwd must be an array`);
      fwd = value['fwd'].map((item, index) =>
        this.parseQuote(item, `${where}.fwd[${index}]`, peerId, fromId, now, depth + 1),
      );
    }
    return {
      kind: 'inline',
      fromId,
      text: optionalText(value['text'], `${where}.text`),
      date,
      media: parseMedia(value, `${where}.`),
      fwd,
    };
  }

  private async resolveQuote(quote: PendingQuote): Promise<ForeignMessage> {
    if (quote.kind === 'stored') return quote.quote;
    const [attachments, fwd] = await Promise.all([
      this.store(quote.media, quote.fromId),
      Promise.all(quote.fwd.map((item) => this.resolveQuote(item))),
    ]);
    // A quote made up here has no place in this conversation, so no ids (like VK's forwards).
    return { date: quote.date, fromId: quote.fromId, text: quote.text, attachments, cmid: 0, fwd };
  }

  /** Photos first, then documents, in the order given; each probed once off the main thread. */
  private async store(media: PendingMedia, ownerId: number): Promise<VkAttachment[]> {
    const photos = await Promise.all(media.photos.map((bytes) => this.deps.media.addPhoto(ownerId, bytes)));
    const docs = await Promise.all(media.docs.map((doc) => this.deps.media.addDoc(ownerId, doc.title, doc.bytes)));
    return [
      ...photos.map((photo) => this.deps.media.photoAttachment(photo)),
      ...docs.map((doc) => this.deps.media.docAttachment(doc)),
    ];
  }

  private getMessages(res: ServerResponse, url: URL): void {
    const peerRaw = url.searchParams.get('peer_id');
    const outRaw = url.searchParams.get('out');
    let messages = this.deps.state.allMessages();
    if (peerRaw !== null && peerRaw !== '') {
      if (!/^\d{1,10}$/.test(peerRaw)) throw new UserInputError('peer_id must be an integer');
      messages = this.deps.state.conversation(Number(peerRaw))?.messages ?? [];
    }
    if (outRaw !== null && outRaw !== '') {
      if (outRaw !== '0' && outRaw !== '1') throw new UserInputError('out must be 0 or 1');
      messages = messages.filter((message) => message.out === Number(outRaw));
    }
    const items: Json[] = messages.map((message) => messageJson(message));
    sendJson(res, 200, { items });
  }
}
