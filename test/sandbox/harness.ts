// Test rig for the sandbox: a sandbox on the real analysis pool, the user API over HTTP, real vk-io, waiting.

import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { VK, type MessageContext } from 'vk-io';
import { createAnalysisPool, type AnalysisPool } from '../../src/analysis/pool.ts';
import { sandboxImagesFromPool } from '../../src/sandbox/images.ts';
import { startSandbox } from '../../src/sandbox/server.ts';
import type { Sandbox, SandboxOptions } from '../../src/sandbox/types.ts';

export const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
const HAVE_SHARED = existsSync(`${SHARED}corpus/photos`) && existsSync(`${SHARED}cases/img`);
/** node:test skip reason (printed by both runners) when ../shared is missing, else false. */
export const NEEDS_SHARED: string | false = HAVE_SHARED ? false : `../shared is absent (${SHARED}): needs its real photos`;

export function sharedBytes(path: string): Buffer {
  return readFileSync(SHARED + path);
}

/** Plenty for phone photos, far below the 2.5-gigapixel bomb in cases/. */
export const MAX_PIXELS = 100_000_000;

export interface Harness {
  sandbox: Sandbox;
  pool: AnalysisPool;
  /** Everything the sandbox logged. */
  lines: string[];
  close(): Promise<void>;
}

export async function startHarness(options: Partial<SandboxOptions> = {}): Promise<Harness> {
  const pool = createAnalysisPool({
    threads: 2,
    taskTimeoutMs: 30_000,
  });
  const lines: string[] = [];
  const sandbox = await startSandbox({
    port: 0,
    images: sandboxImagesFromPool(pool, MAX_PIXELS),
    log: (line) => lines.push(line),
    ...options,
  });
  return {
    sandbox,
    pool,
    lines,
    async close() {
      await sandbox.close();
      await pool.close();
    },
  };
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed body; `any` because typing every shape would only restate the assertions. */
  json: any;
}

export async function request(sandbox: Sandbox, method: string, path: string, body?: unknown): Promise<Reply> {
  const res = await fetch(`${sandbox.baseUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return readReply(res);
}

/** Any HTTP answer, its body parsed as JSON when it is JSON. */
export async function readReply(res: Response): Promise<Reply> {
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** POST /sandbox/messages that must succeed. */
export async function userSends(
  sandbox: Sandbox,
  body: Record<string, unknown>,
): Promise<{ peer_id: number; message_id: number; conversation_message_id: number }> {
  const reply = await request(sandbox, 'POST', '/sandbox/messages', body);
  if (reply.status !== 200) throw new Error(`POST /sandbox/messages -> ${reply.status} ${reply.text}`);
  return reply.json;
}

/** A raw VK API call, form-encoded like vk-io does it. */
export async function callApi(sandbox: Sandbox, method: string, params: Record<string, string>): Promise<Reply> {
  const res = await fetch(`${sandbox.apiUrl}/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' },
    body: new URLSearchParams(params),
  });
  return readReply(res);
}

export function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

export async function download(url: string): Promise<{ status: number; type: string | null; bytes: Buffer }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
}

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 8000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface VkRig {
  vk: VK;
  agent: http.Agent;
  /** Every message_new context, in arrival order. */
  received: MessageContext[];
  /** Waits for the message_new whose conversation_message_id is cmid (in peer). */
  receive(peerId: number, cmid: number, timeoutMs?: number): Promise<MessageContext>;
  stop(): Promise<void>;
}

/** The unmodified vk-io, pointed at the sandbox the way the bot does it. */
export async function startVk(sandbox: Sandbox, extra: Record<string, unknown> = {}): Promise<VkRig> {
  const agent = new http.Agent({ keepAlive: true });
  const vk = new VK({
    token: 'sandbox-test-token',
    apiBaseUrl: sandbox.apiUrl,
    // vk-io types the option as an https.Agent; an http one is what http:// URLs need.
    agent: agent as never,
    pollingGroupId: sandbox.groupId,
    apiLimit: 20,
    ...extra,
  });
  const received: MessageContext[] = [];
  vk.updates.on('message_new', (context) => {
    received.push(context);
  });
  await vk.updates.start();
  return {
    vk,
    agent,
    received,
    receive: (peerId, cmid, timeoutMs = 8000) =>
      waitFor(
        `message_new ${peerId}/${cmid}`,
        () => received.find((context) => context.peerId === peerId && context.conversationMessageId === cmid),
        timeoutMs,
      ),
    async stop() {
      await vk.updates.stop();
      agent.destroy();
    },
  };
}

/** JPEG size from its SOF marker, to check resized copies without decoding them. */
export function jpegSize(bytes: Uint8Array): { width: number; height: number } | null {
  let at = 2;
  while (at + 9 < bytes.length) {
    if (bytes[at] !== 0xff) return null;
    const marker = bytes[at + 1] as number;
    const length = ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return {
        height: ((bytes[at + 5] as number) << 8) | (bytes[at + 6] as number),
        width: ((bytes[at + 7] as number) << 8) | (bytes[at + 8] as number),
      };
    }
    at += 2 + length;
  }
  return null;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A real PNG of any size (a gradient), so ladder tests run where ../shared is absent.
 * Built by hand with zlib; the sandbox itself never encodes images.
 */
export function makePng(width: number, height: number): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      raw[row + 1 + x * 3] = (x * 255) / width;
      raw[row + 2 + x * 3] = (y * 255) / height;
      raw[row + 3 + x * 3] = 128;
    }
  }
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
