// Bots Long Poll: numbered events with bounded history, the key, held requests and failed 1/2/3.

import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { CallLog, type CallEntry } from './call-log.ts';
import type { FaultSchedule, LongPollFault } from './faults.ts';
import { sendJson, sendText } from './http-io.ts';
import type { TimerSet } from './lifecycle.ts';
import type { JsonObject, SandboxEnv } from './types.ts';

export interface LongPollSettings {
  maxWaitMs: number;
  historyLimit: number;
}

interface Waiter {
  res: ServerResponse;
  entry: CallEntry;
  groupPath: string;
  key: string;
  ts: string;
  /** Answered, aborted, or closed: never touch res again. */
  done: boolean;
  /** Hung by a fault: answered by nobody, ended only by the client or close(). */
  hung: boolean;
  cancelTimer: () => void;
}

type Answer = { status: 200; body: JsonObject } | { status: number; text: string } | 'hang' | 'hold';

/** VK answers at most this many events per request; the rest come with the next ts. */
const MAX_EVENTS_PER_ANSWER = 100;
/** vk-io always sends wait=25; VK's documented default. */
const DEFAULT_WAIT_SECONDS = 25;

function newKey(): string {
  // Shaped like VK's JWT-ish keys so a client that logs or truncates it meets realistic input.
  return `${randomBytes(18).toString('base64url')}.${randomBytes(24).toString('base64url')}`;
}

export class LongPoll {
  private events: Array<{ n: number; update: JsonObject }> = [];
  /** Number the next event gets; also the ts getLongPollServer hands out. */
  private nextTs = 1;
  /** Lowest event number still retrievable; older ts values answer failed:1. */
  private firstAvailable = 1;
  private key = newKey();
  private readonly waiters = new Set<Waiter>();

  constructor(
    private readonly env: SandboxEnv,
    private readonly settings: LongPollSettings,
    private readonly faults: FaultSchedule,
    private readonly callLog: CallLog,
    private readonly timers: TimerSet,
  ) {}

  /** groups.getLongPollServer: the current key, this server's URL, and the next event number. */
  serverInfo(): JsonObject {
    return { key: this.key, server: `${this.env.baseUrl}/lp/whp/${this.env.groupId}`, ts: String(this.nextTs) };
  }

  push(update: JsonObject): void {
    this.events.push({ n: this.nextTs++, update });
    if (this.events.length > this.settings.historyLimit) {
      this.events.splice(0, this.events.length - this.settings.historyLimit);
    }
    this.firstAvailable = this.events[0]?.n ?? this.nextTs;
    this.wake();
  }

  /** A long-poll fault was scheduled: held requests take it now, so "the next answer" is deterministic. */
  kick(): void {
    this.wake();
  }

  handle(res: ServerResponse, groupPath: string, url: URL): void {
    const params = new Map(url.searchParams);
    const entry = this.callLog.begin(this.env.now(), 'longpoll', params);
    const waiter: Waiter = {
      res,
      entry,
      groupPath,
      key: url.searchParams.get('key') ?? '',
      ts: url.searchParams.get('ts') ?? '',
      done: false,
      hung: false,
      cancelTimer: () => {},
    };
    res.on('close', () => {
      if (waiter.done) return;
      // The client gave up (vk-io aborts at 30 s, or it was stopped): nothing to answer.
      waiter.done = true;
      waiter.cancelTimer();
      this.waiters.delete(waiter);
      CallLog.finish(entry, 0, { error: waiter.hung ? 'hung by fault; client went away' : 'client went away' });
    });
    const answer = this.evaluate(waiter);
    if (answer === 'hold') {
      const waitSeconds = Number.parseInt(url.searchParams.get('wait') ?? '', 10);
      const holdMs = Math.min(
        (Number.isFinite(waitSeconds) && waitSeconds >= 0 ? waitSeconds : DEFAULT_WAIT_SECONDS) * 1000,
        this.settings.maxWaitMs,
      );
      if (holdMs <= 0) {
        this.answer(waiter, { status: 200, body: { ts: waiter.ts, updates: [] } });
        return;
      }
      this.waiters.add(waiter);
      waiter.cancelTimer = this.timers.after(holdMs, () => {
        this.answer(waiter, { status: 200, body: { ts: waiter.ts, updates: [] } });
      });
      return;
    }
    this.answer(waiter, answer);
  }

  /** Pending polls get an empty answer; hung ones are left for the socket teardown. */
  close(): void {
    for (const waiter of [...this.waiters]) {
      if (!waiter.hung) this.answer(waiter, { status: 200, body: { ts: waiter.ts, updates: [] } });
    }
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.done || waiter.hung) continue;
      const answer = this.evaluate(waiter);
      if (answer !== 'hold') this.answer(waiter, answer);
    }
  }

  private evaluate(waiter: Waiter): Answer {
    const taken = this.faults.takeLongPoll();
    if (taken !== null) {
      waiter.entry.fault = taken.id;
      return this.applyFault(waiter, taken.fault);
    }
    if (waiter.groupPath !== String(this.env.groupId) || waiter.key !== this.key) {
      return { status: 200, body: { failed: 2 } };
    }
    if (!/^\d{1,15}$/.test(waiter.ts)) return { status: 200, body: { failed: 1, ts: String(this.nextTs) } };
    const ts = Number(waiter.ts);
    if (ts > this.nextTs) return { status: 200, body: { failed: 1, ts: String(this.nextTs) } };
    if (ts < this.firstAvailable) return { status: 200, body: { failed: 1, ts: String(this.firstAvailable) } };
    const start = this.events.findIndex((event) => event.n >= ts);
    if (start < 0) return 'hold';
    const batch = this.events.slice(start, start + MAX_EVENTS_PER_ANSWER);
    const last = batch.at(-1)?.n ?? ts - 1;
    return { status: 200, body: { ts: String(last + 1), updates: batch.map((event) => event.update) } };
  }

  private applyFault(waiter: Waiter, fault: LongPollFault): Answer {
    if ('hang' in fault) return 'hang';
    if ('httpStatus' in fault) return { status: fault.httpStatus, text: `sandbox fault: HTTP ${fault.httpStatus}` };
    if (fault.failed === 1) {
      // "History outdated": continue from the requested ts when it is still held, so nothing VK holds is lost.
      const asked = /^\d{1,15}$/.test(waiter.ts) ? Number(waiter.ts) : this.nextTs;
      const ts = Math.min(Math.max(asked, this.firstAvailable), this.nextTs);
      return { status: 200, body: { failed: 1, ts: String(ts) } };
    }
    // Key expired (2) or information lost (3): the old key stops working for everybody.
    this.key = newKey();
    if (fault.failed === 3) {
      this.events = [];
      this.firstAvailable = this.nextTs;
    }
    // Other held requests now carry a dead key; answer them too (after this one is done).
    queueMicrotask(() => this.wake());
    return { status: 200, body: { failed: fault.failed } };
  }

  private answer(waiter: Waiter, answer: Exclude<Answer, 'hold'>): void {
    if (waiter.done) return;
    if (answer === 'hang') {
      waiter.hung = true;
      waiter.cancelTimer();
      this.waiters.add(waiter);
      return;
    }
    waiter.done = true;
    waiter.cancelTimer();
    this.waiters.delete(waiter);
    if ('body' in answer) {
      CallLog.finish(waiter.entry, answer.status, { response: answer.body });
      sendJson(waiter.res, answer.status, answer.body);
    } else {
      // Not JSON, like a proxy in front of VK: vk-io's response.ok / json() checks must trip.
      CallLog.finish(waiter.entry, answer.status, { error: answer.text });
      sendText(waiter.res, answer.status, 'text/html; charset=utf-8', `<html><body>${answer.text}</body></html>`);
    }
  }
}
