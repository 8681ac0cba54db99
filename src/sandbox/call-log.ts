// The record of every API and long-poll call the bot made, and of every media download.

import type { Json, JsonObject } from './types.ts';

export interface CallEntry extends JsonObject {
  /** Milliseconds on the sandbox clock when the request arrived. */
  at: number;
  method: string;
  params: JsonObject;
  /** Set once answered; 0 when the client went away before an answer. */
  http_status?: number;
  response?: Json;
  error?: Json;
  /** Id of the scheduled fault that shaped this answer. */
  fault?: number;
  pending?: boolean;
}

export interface DownloadEntry extends JsonObject {
  at: number;
  path: string;
  http_status: number;
  bytes?: number;
  fault?: number;
}

/** Bounded so a sandbox left running for days does not grow without end. */
const MAX_ENTRIES = 20_000;

export class CallLog {
  private readonly calls: CallEntry[] = [];
  private readonly downloads: DownloadEntry[] = [];

  /** Logs the call at arrival (so the order is arrival order) and returns the entry to complete. */
  begin(at: number, method: string, params: ReadonlyMap<string, string>): CallEntry {
    const shown: JsonObject = {};
    for (const [key, value] of params) {
      // The token never leaves the sandbox, not even to the test that owns it.
      shown[key] = key === 'access_token' ? '[redacted]' : value;
    }
    const entry: CallEntry = { at, method, params: shown, pending: true };
    this.calls.push(entry);
    if (this.calls.length > MAX_ENTRIES) this.calls.shift();
    return entry;
  }

  static finish(entry: CallEntry, httpStatus: number, outcome: { response?: Json; error?: Json }): void {
    delete entry.pending;
    entry.http_status = httpStatus;
    if (outcome.response !== undefined) entry.response = outcome.response;
    if (outcome.error !== undefined) entry.error = outcome.error;
  }

  list(method?: string): CallEntry[] {
    return method === undefined ? [...this.calls] : this.calls.filter((entry) => entry.method === method);
  }

  clear(): void {
    this.calls.length = 0;
    this.downloads.length = 0;
  }

  download(entry: DownloadEntry): void {
    this.downloads.push(entry);
    if (this.downloads.length > MAX_ENTRIES) this.downloads.shift();
  }

  listDownloads(): DownloadEntry[] {
    return [...this.downloads];
  }
}
