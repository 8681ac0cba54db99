// Public options and handles of the sandbox, plus the VK JSON shapes its modules pass around.

/** Image work the sandbox needs; injected so that decoding never runs on the event loop. */
export interface SandboxImages {
  /** Upright size from the header, nulls when the bytes are not a decodable raster image. */
  probe(bytes: Uint8Array): Promise<{ width: number | null; height: number | null }>;
  /** Upright, fit inside maxWidth x maxHeight, JPEG bytes. Runs off the main thread (worker pool). */
  resize(bytes: Uint8Array, maxWidth: number, maxHeight: number): Promise<Uint8Array>;
}

export interface SandboxOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** Community id the emulator plays; default 1. */
  groupId?: number;
  images: SandboxImages;
  /** Millisecond clock for every `date` and log stamp; default Date.now. */
  now?: () => number;
  /** Cap on how long a long-poll request is held; default 20000 (vk-io aborts at 30 s). */
  longPollMaxWaitMs?: number;
  /** Longest accepted messages.send text in code points; default 4096, error 914 above. */
  textLimit?: number;
  /** How many long-poll events stay retrievable; older ones answer failed:1. Default 10000. */
  longPollHistory?: number;
  log?: (line: string) => void;
}

export interface Sandbox {
  /** http://127.0.0.1:PORT */
  baseUrl: string;
  /** baseUrl + '/method', the value for vk-io's apiBaseUrl. */
  apiUrl: string;
  groupId: number;
  close(): Promise<void>;
}

/** Any JSON value; the sandbox builds VK payloads as plain objects. */
export type Json = null | boolean | number | string | bigint | Json[] | { [key: string]: Json | undefined };
export type JsonObject = { [key: string]: Json | undefined };

/** A VK attachment as it appears in `attachments[]`. */
export interface VkAttachment extends JsonObject {
  type: string;
}

/** Context every sandbox module shares; built once per sandbox in server.ts. */
export interface SandboxEnv {
  baseUrl: string;
  groupId: number;
  now: () => number;
  log: (line: string) => void;
}
