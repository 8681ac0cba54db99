// The sender loop: sends due outbox rows with their stored random_id, within the rate limit,
// one message in flight per peer, woken at once by new rows.
import type { Clock } from '../clock.ts';
import type { Database } from '../db/driver.ts';
import type { Logger } from '../log.ts';
import { backoffDelay, type BackoffPolicy } from '../queue/backoff.ts';
import { Wakeup } from '../queue/wakeup.ts';
import { classifySendFailure, type SendFailure } from './classify.ts';
import type { RateLimiter } from './rate-limit.ts';
import {
  dueMessages,
  markFinal,
  markPartSent,
  nextMessageDueAt,
  nextPart,
  recordAttempt,
  reschedule,
  shrinkParts,
  type OutboxRow,
  type OutgoingPart,
} from './store.ts';

/** What the sender needs from VK: messages.send; failures carry VK's error code or null. */
export interface MessageTransport {
  send(peerId: number, randomId: number, message: string): Promise<number>;
}

export interface SenderOptions {
  /** Sends in flight at once (each to a different peer). */
  concurrency: number;
  pollMs: number;
  shortBackoff: BackoffPolicy;
  /** For flood control (9) and a rejected token (5). */
  longBackoff: BackoffPolicy;
  /** After this many attempts a retryable failure becomes `failed` (kept, visible, retryable by hand). */
  maxAttempts: number;
}

export interface SenderDeps {
  db: Database;
  clock: Clock;
  log: Logger;
  random: () => number;
  transport: MessageTransport;
  limiter: RateLimiter;
}

export interface SenderStats {
  sent: number;
  retried: number;
  undeliverable: number;
  failed: number;
  split: number;
}

/** Below this, a 914 ("too long") is not answered by cutting the text further. */
const MIN_PART_LENGTH = 200;

export function sendFailureOf(error: unknown): SendFailure {
  const vkCode = error && typeof error === 'object' && 'vkCode' in error && typeof error.vkCode === 'number' ? error.vkCode : null;
  return { vkCode, message: error instanceof Error ? error.message : String(error) };
}

export class OutboxSender {
  private readonly wakeup = new Wakeup();
  private readonly inFlight = new Map<number, Promise<void>>();
  private readonly stats: SenderStats = { sent: 0, retried: 0, undeliverable: 0, failed: 0, split: 0 };
  private stopping = false;
  private loop: Promise<void> | undefined;
  private pausedUntil = 0;

  constructor(
    private readonly deps: SenderDeps,
    private readonly options: SenderOptions,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  notify(): void {
    this.wakeup.notify();
  }

  snapshot(): SenderStats & { inFlight: number } {
    return { ...this.stats, inFlight: this.inFlight.size };
  }

  /** Keeps sending what is due until nothing is or the deadline passes, then stops. */
  async stop(deadlineMs: number): Promise<void> {
    const { clock, db } = this.deps;
    const until = clock.now() + deadlineMs;
    while (clock.now() < until && (this.inFlight.size > 0 || dueMessages(db, clock.now(), 1, new Set()).length > 0)) {
      await clock.sleep(20);
    }
    this.stopping = true;
    this.wakeup.notify();
    await this.loop;
    await Promise.all(this.inFlight.values());
  }

  private async run(): Promise<void> {
    const { db, clock, log } = this.deps;
    while (!this.stopping) {
      try {
        if (clock.now() < this.pausedUntil) {
          await clock.sleep(this.pausedUntil - clock.now());
          continue;
        }
        const free = this.options.concurrency - this.inFlight.size;
        const rows = free > 0 ? dueMessages(db, clock.now(), free, new Set(this.inFlight.keys())) : [];
        if (rows.length > 0) {
          for (const row of rows) {
            await this.deps.limiter.take();
            if (this.stopping) break;
            const done = this.deliver(row).finally(() => {
              this.inFlight.delete(row.peer_id);
              this.wakeup.notify();
            });
            this.inFlight.set(row.peer_id, done);
          }
          continue;
        }
        const due = nextMessageDueAt(db);
        const wait = due === undefined ? this.options.pollMs : Math.min(this.options.pollMs, Math.max(due - clock.now(), 1));
        await this.wakeup.wait(wait, clock.setTimer);
      } catch (error) {
        log.error('outbox read failed; retrying', { error });
        await this.wakeup.wait(this.options.pollMs, clock.setTimer);
      }
    }
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const { db, clock, log, transport } = this.deps;
    try {
      recordAttempt(db, row.id, clock.now());
      const attempt = row.attempts + 1;
      const part = nextPart(row);
      let messageId: number;
      try {
        messageId = await transport.send(row.peer_id, part.randomId, part.text);
      } catch (error) {
        this.settleFailure(row, part, attempt, sendFailureOf(error));
        return;
      }
      markPartSent(db, row.id, part, messageId, clock.now());
      if (part.isLast) this.stats.sent += 1;
      log.info(part.isLast ? 'message sent' : 'message part sent', { outbox: row.id, peer: row.peer_id, purpose: row.purpose, attempt });
    } catch (error) {
      // The database refused (busy, full disk): the row stays pending and is sent again with
      // the same random_id, which VK drops if the first call went through. Pause the loop a
      // little so a full disk gives a log line a second, not hundreds.
      log.error('outbox row could not be updated', { outbox: row.id, error });
      this.pausedUntil = clock.now() + this.options.pollMs;
    }
  }

  private settleFailure(row: OutboxRow, part: OutgoingPart, attempt: number, failure: SendFailure): void {
    const { db, clock, log, random } = this.deps;
    const now = clock.now();
    const decision = classifySendFailure(failure);
    const fields = { outbox: row.id, peer: row.peer_id, vk_code: failure.vkCode, attempt, error: failure.message };
    switch (decision.action) {
      case 'retry': {
        if (attempt >= this.options.maxAttempts) {
          markFinal(db, row.id, 'failed', failure.vkCode, failure.message, now);
          this.stats.failed += 1;
          log.error('message failed after the last attempt', fields);
          return;
        }
        const policy = decision.backoff === 'long' ? this.options.longBackoff : this.options.shortBackoff;
        const at = now + backoffDelay(attempt, policy, random);
        reschedule(db, row.id, at, failure.vkCode, failure.message, now);
        this.stats.retried += 1;
        log.warn('message send failed; will retry', { ...fields, in_ms: at - now });
        return;
      }
      case 'undeliverable':
        markFinal(db, row.id, 'undeliverable', failure.vkCode, failure.message, now);
        this.stats.undeliverable += 1;
        log.warn('message undeliverable: the user does not accept messages from the community', fields);
        return;
      case 'split':
        if (part.text.length <= MIN_PART_LENGTH) {
          // VK takes thousands of characters; refusing this few means something else is wrong.
          markFinal(db, row.id, 'failed', failure.vkCode, `VK refused ${part.text.length} characters as too long`, now);
          this.stats.failed += 1;
          log.error('message refused as too long although it is short', fields);
          return;
        }
        shrinkParts(db, row.id, part.text.length, now);
        this.stats.split += 1;
        log.warn('message too long for VK; sending it in smaller parts', fields);
        return;
      case 'fail':
        markFinal(db, row.id, 'failed', failure.vkCode, failure.message, now);
        this.stats.failed += 1;
        log.error('message refused by VK', fields);
        return;
    }
  }
}
