// Acts as VK users through the sandbox's user-side HTTP API, as outside tests do.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
export const HAVE_SHARED = existsSync(SHARED + 'corpus/photos');
export const NO_SHARED = HAVE_SHARED ? false : `../shared not found at ${SHARED}: the test needs its real photos`;

export function sharedFile(path: string): Buffer {
  return readFileSync(SHARED + path);
}

export interface SandboxMessage {
  id: number;
  conversation_message_id: number;
  from_id: number;
  out: 0 | 1;
  text: string;
  random_id: number;
  date: number;
}

export class SandboxClient {
  constructor(readonly baseUrl: string) {}

  async send(body: Record<string, unknown>): Promise<{ peer_id: number; message_id: number; conversation_message_id: number }> {
    const res = await fetch(`${this.baseUrl}/sandbox/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`POST /sandbox/messages: ${res.status} ${await res.text()}`);
    return (await res.json()) as { peer_id: number; message_id: number; conversation_message_id: number };
  }

  sendPhotos(fromId: number, photos: Buffer[], text = 'подать заявку') {
    return this.send({ from_id: fromId, text, photos: photos.map((p) => p.toString('base64')) });
  }

  async messages(peerId: number): Promise<SandboxMessage[]> {
    const res = await fetch(`${this.baseUrl}/sandbox/messages?peer_id=${peerId}`);
    if (!res.ok) throw new Error(`GET /sandbox/messages: ${res.status}`);
    return ((await res.json()) as { items: SandboxMessage[] }).items;
  }

  async botMessages(peerId: number): Promise<SandboxMessage[]> {
    return (await this.messages(peerId)).filter((m) => m.out === 1);
  }

  async calls(method?: string): Promise<{ method: string; params: Record<string, string> }[]> {
    const res = await fetch(`${this.baseUrl}/sandbox/calls${method ? `?method=${encodeURIComponent(method)}` : ''}`);
    return ((await res.json()) as { items: { method: string; params: Record<string, string> }[] }).items;
  }

  async fault(spec: Record<string, unknown>): Promise<void> {
    const res = await fetch(`${this.baseUrl}/sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(spec),
    });
    if (!res.ok) throw new Error(`POST /sandbox/faults: ${res.status} ${await res.text()}`);
  }

  /** Polls the conversation until `done` holds for the bot's messages, or fails after timeoutMs. */
  async waitForBot(peerId: number, done: (bot: SandboxMessage[]) => boolean, timeoutMs = 60_000): Promise<SandboxMessage[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const bot = await this.botMessages(peerId);
      if (done(bot)) return bot;
      if (Date.now() > until) {
        throw new Error(`peer ${peerId}: bot messages after ${timeoutMs} ms: ${JSON.stringify(bot.map((m) => m.text))}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export const isAck = (m: SandboxMessage) => m.text.startsWith('Заявка принята!');
export const isResult = (m: SandboxMessage) => m.text.startsWith('Мы проанализировали');
