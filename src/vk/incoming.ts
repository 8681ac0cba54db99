// Turns VK's raw message object into what the bot needs: who, where, the text, and the
// photos it carries (attached, in a reply or forward, or as an image document).

/** The subset of VK's message object the bot reads; everything is optional on the wire. */
export interface RawMessage {
  id?: number;
  date?: number;
  peer_id?: number;
  from_id?: number;
  text?: string;
  conversation_message_id?: number;
  attachments?: RawAttachment[];
  fwd_messages?: RawMessage[];
  reply_message?: RawMessage;
  is_cropped?: boolean;
}

interface RawSize {
  type?: string;
  url?: string;
  src?: string;
  width?: number;
  height?: number;
}

interface RawAttachment {
  type?: string;
  photo?: { sizes?: RawSize[]; orig_photo?: RawSize };
  doc?: { url?: string; ext?: string; title?: string; type?: number; preview?: { photo?: { sizes?: RawSize[] } } };
}

export type PhotoOrigin = 'attachment' | 'reply' | 'forward' | 'document';

export interface PhotoRef {
  origin: PhotoOrigin;
  url: string;
}

export interface IncomingMessage {
  peerId: number;
  fromId: number;
  conversationMessageId: number;
  messageId: number;
  /** Unix milliseconds. */
  sentAt: number;
  text: string;
  photos: PhotoRef[];
  /** VK left attachments out of a long-poll event; the full message must be fetched. */
  isCropped: boolean;
}

export class MalformedMessageError extends Error {
  readonly code = 'malformed_message';
  readonly retryable = false;
}

// VK's size letters from small to large when width/height are missing (old payloads).
const SIZE_RANK = ['s', 'm', 'o', 'p', 'q', 'r', 'x', 'y', 'z', 'w', 'base'];
// Document types: 3 = gif, 4 = image. Files sent "as a document" with an image-like name
// still count, so that an iPhone HEIC or an SVG gets a clear answer instead of silence.
const IMAGE_DOC_TYPES = new Set([3, 4]);
const IMAGE_EXTENSIONS = new Set(['jpg', 'jpeg', 'png', 'gif', 'webp', 'heic', 'heif', 'avif', 'tif', 'tiff', 'bmp', 'svg']);

function largest(sizes: RawSize[]): string | undefined {
  let best: RawSize | undefined;
  let bestArea = -1;
  let bestRank = -1;
  for (const size of sizes) {
    const url = size.url ?? size.src;
    if (!url) continue;
    const area = (size.width ?? 0) * (size.height ?? 0);
    const rank = SIZE_RANK.indexOf(size.type ?? '');
    if (area > bestArea || (area === bestArea && rank > bestRank)) {
      best = size;
      bestArea = area;
      bestRank = rank;
    }
  }
  return best ? (best.url ?? best.src) : undefined;
}

function photosOf(attachments: RawAttachment[] | undefined, origin: PhotoOrigin, out: PhotoRef[]): void {
  for (const a of attachments ?? []) {
    if (a.type === 'photo' && a.photo) {
      const url = a.photo.orig_photo?.url ?? largest(a.photo.sizes ?? []);
      if (url) out.push({ origin, url });
    } else if (a.type === 'doc' && a.doc?.url) {
      const ext = (a.doc.ext ?? a.doc.title?.split('.').pop() ?? '').toLowerCase();
      if (IMAGE_DOC_TYPES.has(a.doc.type ?? 0) || IMAGE_EXTENSIONS.has(ext)) out.push({ origin: 'document', url: a.doc.url });
    }
  }
}

function nestedPhotos(message: RawMessage, origin: PhotoOrigin, out: PhotoRef[], depth: number): void {
  if (depth > 10) return; // VK nests forwards; a hostile payload must not recurse without end
  photosOf(message.attachments, origin, out);
  if (message.reply_message) nestedPhotos(message.reply_message, 'reply', out, depth + 1);
  for (const fwd of message.fwd_messages ?? []) nestedPhotos(fwd, 'forward', out, depth + 1);
}

/** Every photo in the message, its own first, then the reply's, then forwards', deduplicated. */
export function collectPhotos(message: RawMessage): PhotoRef[] {
  const found: PhotoRef[] = [];
  photosOf(message.attachments, 'attachment', found);
  if (message.reply_message) nestedPhotos(message.reply_message, 'reply', found, 1);
  for (const fwd of message.fwd_messages ?? []) nestedPhotos(fwd, 'forward', found, 1);
  const seen = new Set<string>();
  return found.filter((p) => !seen.has(p.url) && seen.add(p.url));
}

export function parseIncoming(message: RawMessage, now: number): IncomingMessage {
  const { peer_id: peerId, from_id: fromId, conversation_message_id: cmid } = message;
  if (typeof peerId !== 'number' || typeof fromId !== 'number' || typeof cmid !== 'number') {
    throw new MalformedMessageError('message without peer_id, from_id or conversation_message_id');
  }
  return {
    peerId,
    fromId,
    conversationMessageId: cmid,
    messageId: message.id ?? 0,
    sentAt: typeof message.date === 'number' ? message.date * 1000 : now,
    text: message.text ?? '',
    photos: collectPhotos(message),
    isCropped: message.is_cropped === true,
  };
}

/**
 * True when the text asks to apply; tolerant of case, spacing, punctuation and a chat mention.
 * `start`: the phrase opens the message; `anywhere`: it stands in it as whole words.
 */
export function isTrigger(text: string, phrase: string, where: 'start' | 'anywhere' = 'start'): boolean {
  const normal = (s: string) =>
    s
      .toLowerCase()
      .replace(/ё/g, 'е')
      .replace(/^\s*\[(club|public)\d+\|[^\]]*\][\s,:]*/u, '')
      .replace(/[\s\p{P}]+/gu, ' ')
      .trim();
  const wanted = normal(phrase);
  const got = normal(text);
  if (wanted.length === 0) return false;
  return where === 'start' ? got === wanted || got.startsWith(wanted + ' ') : ` ${got} `.includes(` ${wanted} `);
}
