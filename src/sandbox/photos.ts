// Photos and documents users sent: their bytes, VK attachment objects, and serving every size URL.

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallLog } from './call-log.ts';
import type { FaultSchedule, PhotoFault } from './faults.ts';
import { sendText, sniffContentType } from './http-io.ts';
import type { TimerSet } from './lifecycle.ts';
import { docPreviewLadder, photoSizeLadder, type SizeSpec } from './photo-sizes.ts';
import type { SandboxEnv, SandboxImages, VkAttachment } from './types.ts';

export interface StoredPhoto {
  id: number;
  ownerId: number;
  date: number;
  accessKey: string;
  webViewToken: string;
  bytes: Uint8Array;
  width: number;
  height: number;
  sizes: SizeSpec[];
  /** Resized copies by size type, made on first request and shared by concurrent ones. */
  copies: Map<string, Promise<Uint8Array>>;
}

export interface StoredDoc {
  id: number;
  ownerId: number;
  date: number;
  accessKey: string;
  title: string;
  ext: string;
  docType: number;
  bytes: Uint8Array;
  preview: SizeSpec[] | null;
  copies: Map<string, Promise<Uint8Array>>;
}

const IMAGE_EXTS = new Set(['jpg', 'jpeg', 'png', 'webp', 'heic', 'heif', 'bmp', 'tif', 'tiff', 'avif', 'jfif']);

/**
 * VK doc `type` (dev.vk.com objects/doc), decided by extension like VK: 3 gif, 4 image, else 8
 * (VK also has 1 text, 2 archive... the bot only asks "is it an image", so the rest stay "unknown").
 */
export function docTypeForExt(ext: string): number {
  if (ext === 'gif') return 3;
  return IMAGE_EXTS.has(ext) ? 4 : 8;
}

export function extOf(title: string): string {
  const dot = title.lastIndexOf('.');
  return dot <= 0 || dot === title.length - 1 ? '' : title.slice(dot + 1).toLowerCase();
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

export class MediaStore {
  private readonly photos = new Map<number, StoredPhoto>();
  private readonly docs = new Map<number, StoredDoc>();
  // Ids in VK's ranges so logs look like real ones.
  private nextPhotoId = 457239001;
  private nextDocId = 650000001;

  constructor(
    private readonly env: SandboxEnv,
    private readonly images: SandboxImages,
    private readonly faults: FaultSchedule,
    private readonly callLog: CallLog,
    private readonly timers: TimerSet,
  ) {}

  /** Probes once for the upright size; a photo that cannot be probed is still accepted, like the brief says. */
  async addPhoto(ownerId: number, bytes: Uint8Array): Promise<StoredPhoto> {
    // Ids in the order photos were given, whichever probe finishes first.
    const id = this.nextPhotoId++;
    const { width, height } = await this.probe(bytes);
    const photo: StoredPhoto = {
      id,
      ownerId,
      date: Math.floor(this.env.now() / 1000),
      accessKey: hex(9),
      webViewToken: hex(9),
      bytes,
      width: width ?? 0,
      height: height ?? 0,
      sizes: photoSizeLadder(width, height),
      copies: new Map(),
    };
    this.photos.set(photo.id, photo);
    return photo;
  }

  async addDoc(ownerId: number, title: string, bytes: Uint8Array): Promise<StoredDoc> {
    const ext = extOf(title);
    const id = this.nextDocId++;
    const { width, height } = await this.probe(bytes);
    const doc: StoredDoc = {
      id,
      ownerId,
      date: Math.floor(this.env.now() / 1000),
      accessKey: hex(9),
      title,
      ext,
      docType: docTypeForExt(ext),
      bytes,
      preview: docPreviewLadder(width, height),
      copies: new Map(),
    };
    this.docs.set(doc.id, doc);
    return doc;
  }

  /** Resolves `photo<owner>_<id>[_key]` / `doc...` from messages.send's attachment list. */
  findAttachment(ref: string): VkAttachment | null {
    const match = /^(photo|doc)(-?\d+)_(\d+)(?:_([0-9a-zA-Z]+))?$/.exec(ref.trim());
    if (match === null) return null;
    const ownerId = Number(match[2]);
    const id = Number(match[3]);
    if (match[1] === 'photo') {
      const photo = this.photos.get(id);
      return photo !== undefined && photo.ownerId === ownerId ? this.photoAttachment(photo) : null;
    }
    const doc = this.docs.get(id);
    return doc !== undefined && doc.ownerId === ownerId ? this.docAttachment(doc) : null;
  }

  photoAttachment(photo: StoredPhoto): VkAttachment {
    const base = `${this.env.baseUrl}/photos/${photo.id}`;
    return {
      type: 'photo',
      photo: {
        // vk-io's size getters return undefined unless album_id and date are both present.
        album_id: -3,
        date: photo.date,
        id: photo.id,
        owner_id: photo.ownerId,
        access_key: photo.accessKey,
        sizes: photo.sizes.map((size) => ({
          height: size.height,
          type: size.type,
          width: size.width,
          url: `${base}/${size.type}.jpg`,
        })),
        text: '',
        web_view_token: photo.webViewToken,
        has_tags: false,
        orig_photo: { height: photo.height, type: 'base', url: `${base}/base.jpg`, width: photo.width },
      },
    };
  }

  docAttachment(doc: StoredDoc): VkAttachment {
    const base = `${this.env.baseUrl}/docs/${doc.id}`;
    return {
      type: 'doc',
      doc: {
        id: doc.id,
        owner_id: doc.ownerId,
        title: doc.title,
        size: doc.bytes.length,
        ext: doc.ext,
        url: `${base}/${encodeURIComponent(doc.title)}`,
        date: doc.date,
        type: doc.docType,
        // Document previews use `src`, not `url` (schema docs_doc_preview_photo_sizes).
        preview:
          doc.preview === null
            ? undefined
            : {
                photo: {
                  sizes: doc.preview.map((size) => ({
                    src: `${base}/preview/${size.type}.jpg`,
                    width: size.width,
                    height: size.height,
                    type: size.type,
                  })),
                },
              },
        access_key: doc.accessKey,
      },
    };
  }

  /** Serves /photos/... and /docs/...; returns false when the path is not a media path. */
  async serve(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    const target = this.resolve(path);
    if (target === undefined) return false;
    const at = this.env.now();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'text/plain; charset=utf-8', 'method not allowed');
      return true;
    }
    const taken = this.faults.takePhoto();
    if (taken !== null) {
      this.callLog.download({ at, path, http_status: faultStatus(taken.fault), fault: taken.id });
      if (!('delayMs' in taken.fault)) {
        this.applyFault(res, taken.fault, target === null ? null : target.bytesHint);
        return true;
      }
      await this.timers.sleep(taken.fault.delayMs);
    }
    if (target === null) {
      if (taken === null) this.callLog.download({ at, path, http_status: 404 });
      sendText(res, 404, 'text/plain; charset=utf-8', 'not found');
      return true;
    }
    const bytes = await target.bytes();
    if (taken === null) this.callLog.download({ at, path, http_status: 200, bytes: bytes.length });
    if (res.destroyed || res.writableEnded) return true;
    res.writeHead(200, {
      // The real type, whatever the .jpg in the URL says: originals are served as sent.
      'content-type': sniffContentType(bytes),
      'content-length': String(bytes.length),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
    return true;
  }

  /** undefined: not a media path; null: a media path naming nothing. */
  private resolve(
    path: string,
  ): { bytes: () => Promise<Uint8Array>; bytesHint: number } | null | undefined {
    let match = /^\/photos\/(\d+)\/([a-z]+)\.jpg$/.exec(path);
    if (match !== null) {
      const photo = this.photos.get(Number(match[1]));
      const type = match[2] as string;
      if (photo === undefined) return null;
      if (type === 'base') return { bytes: async () => photo.bytes, bytesHint: photo.bytes.length };
      const size = photo.sizes.find((item) => item.type === type);
      if (size === undefined) return null;
      return { bytes: () => this.copyOf(photo.bytes, photo.copies, size), bytesHint: photo.bytes.length };
    }
    match = /^\/docs\/(\d+)\/preview\/([a-z]+)\.jpg$/.exec(path);
    if (match !== null) {
      const doc = this.docs.get(Number(match[1]));
      const size = doc?.preview?.find((item) => item.type === match?.[2]);
      if (doc === undefined || size === undefined) return null;
      return { bytes: () => this.copyOf(doc.bytes, doc.copies, size), bytesHint: doc.bytes.length };
    }
    match = /^\/docs\/(\d+)\/([^/]+)$/.exec(path);
    if (match !== null) {
      const doc = this.docs.get(Number(match[1]));
      // The title is part of the URL VK hands out; a bot that rebuilds URLs itself should notice.
      if (doc === undefined || safeDecode(match[2] as string) !== doc.title) return null;
      return { bytes: async () => doc.bytes, bytesHint: doc.bytes.length };
    }
    if (path.startsWith('/photos/') || path.startsWith('/docs/')) return null;
    return undefined;
  }

  /**
   * A copy whose box holds the original is the original, byte for byte (the bot reads EXIF).
   * When a resize fails the original is served instead, as for photos that could not be probed.
   */
  private copyOf(original: Uint8Array, copies: Map<string, Promise<Uint8Array>>, size: SizeSpec): Promise<Uint8Array> {
    if (size.original) return Promise.resolve(original);
    let copy = copies.get(size.type);
    if (copy === undefined) {
      copy = this.images.resize(original.slice(), size.width, size.height).catch((error: unknown) => {
        this.env.log(`[sandbox] resize to ${size.type} failed, serving the original: ${String(error)}`);
        return original;
      });
      copies.set(size.type, copy);
    }
    return copy;
  }

  private async probe(bytes: Uint8Array): Promise<{ width: number | null; height: number | null }> {
    try {
      // A copy, because a worker pool may transfer (detach) the buffer it is given.
      return await this.images.probe(bytes.slice());
    } catch (error) {
      this.env.log(`[sandbox] probe failed, photo kept without a size: ${String(error)}`);
      return { width: null, height: null };
    }
  }

  private applyFault(res: ServerResponse, fault: PhotoFault, length: number | null): void {
    if ('httpStatus' in fault) {
      sendText(res, fault.httpStatus, 'text/plain; charset=utf-8', `sandbox fault: HTTP ${fault.httpStatus}`);
    } else if ('html' in fault) {
      sendText(
        res,
        200,
        'text/html; charset=utf-8',
        '<!DOCTYPE html><html><head><title>VK</title></head><body><p>Something went wrong.</p></body></html>',
      );
    } else if ('redirect' in fault) {
      res.writeHead(302, { location: fault.redirect, 'content-length': '0' });
      res.end();
    } else if ('stall' in fault) {
      // Headers promise a body that never comes; only the client's own timeout ends this.
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': String(length ?? 1_000_000) });
      res.flushHeaders();
    } else if ('endless' in fault) {
      streamForever(res);
    }
  }
}

function safeDecode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

function faultStatus(fault: PhotoFault): number {
  if ('httpStatus' in fault) return fault.httpStatus;
  if ('redirect' in fault) return 302;
  return 200;
}

/** A JPEG start followed by filler, chunk after chunk, respecting backpressure, until the client leaves. */
function streamForever(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'image/jpeg' });
  const chunk = Buffer.alloc(64 * 1024, 0x55);
  const pump = (): void => {
    while (!res.destroyed && !res.writableEnded) {
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
  };
  res.write(Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
  pump();
}
