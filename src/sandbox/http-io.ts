// Reading requests and writing responses over node:http, the only HTTP layer the sandbox uses.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Json } from './types.ts';

/** A request body over the route's limit; answered 413 by the router. */
export class BodyTooLargeError extends Error {
  readonly code = 'body_too_large';
  constructor(readonly limit: number) {
    super(`request body is larger than ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

export function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        // Keep reading to the end so the reply can still be written on the same connection.
        chunks.length = 0;
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(new Uint8Array(Buffer.concat(chunks)));
    });
    req.on('error', (error) => {
      if (!failed) {
        failed = true;
        reject(error);
      }
    });
  });
}

/**
 * JSON with bigint values written as bare digits, the way VK writes random_id values above 2^53
 * (JSON.stringify cannot, and a quoted string would change the type clients see).
 */
export function stringifyJson(value: Json): string {
  const marker = '\u0001bigint:';
  const text = JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'bigint' ? `${marker}${item.toString()}` : item,
  );
  return text.replace(/"\\u0001bigint:(-?\d+)"/g, '$1');
}

export function sendJson(res: ServerResponse, status: number, value: Json): void {
  if (res.writableEnded || res.destroyed) return;
  const body = Buffer.from(stringifyJson(value), 'utf8');
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(body.length),
  });
  res.end(body);
}

export function sendText(res: ServerResponse, status: number, contentType: string, text: string): void {
  if (res.writableEnded || res.destroyed) return;
  const body = Buffer.from(text, 'utf8');
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(body.length) });
  res.end(body);
}

/** The 400 every user-API validation failure gets: one message naming the problem. */
export function sendBadRequest(res: ServerResponse, message: string): void {
  sendJson(res, 400, { error: message });
}

/** Query string merged with a form-urlencoded (or JSON object) body; body values win, like VK. */
export function parseParams(url: URL, contentType: string | undefined, body: Uint8Array): Map<string, string> {
  const params = new Map<string, string>();
  for (const [key, value] of url.searchParams) params.set(key, value);
  if (body.length === 0) return params;
  const text = Buffer.from(body).toString('utf8');
  if (contentType !== undefined && contentType.includes('application/json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return params;
    }
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      for (const [key, value] of Object.entries(parsed)) {
        if (value === undefined || value === null) continue;
        params.set(key, typeof value === 'object' ? JSON.stringify(value) : String(value));
      }
    }
    return params;
  }
  for (const [key, value] of new URLSearchParams(text)) params.set(key, value);
  return params;
}

/** Content type from magic bytes, because the sandbox serves originals whatever their name says. */
export function sniffContentType(bytes: Uint8Array): string {
  const b = (i: number): number => bytes[i] ?? -1;
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'image/jpeg';
  if (b(0) === 0x89 && b(1) === 0x50 && b(2) === 0x4e && b(3) === 0x47) return 'image/png';
  if (b(0) === 0x47 && b(1) === 0x49 && b(2) === 0x46) return 'image/gif';
  if (b(0) === 0x52 && b(1) === 0x49 && b(2) === 0x46 && b(3) === 0x46 && b(8) === 0x57 && b(9) === 0x45) {
    return 'image/webp';
  }
  if (b(4) === 0x66 && b(5) === 0x74 && b(6) === 0x79 && b(7) === 0x70) return 'image/heif';
  if ((b(0) === 0x49 && b(1) === 0x49 && b(2) === 0x2a) || (b(0) === 0x4d && b(1) === 0x4d && b(3) === 0x2a)) {
    return 'image/tiff';
  }
  return 'application/octet-stream';
}
