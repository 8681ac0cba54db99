// The outbox table: messages waiting to be sent, each with its random_id fixed at creation.
import type { Database } from '../db/driver.ts';
import { firstPart } from './split.ts';

export type OutboxPurpose = 'ack' | 'result' | 'no_photo' | 'hint' | 'over_limit';
export type OutboxState = 'pending' | 'sent' | 'undeliverable' | 'failed';

export interface OutboxRow {
  id: number;
  peer_id: number;
  random_id: number;
  message: string;
  part_limit: number;
  sent_chars: number;
  purpose: OutboxPurpose;
  application_id: number | null;
  attempts: number;
}

export interface NewMessage {
  peerId: number;
  message: string;
  purpose: OutboxPurpose;
  applicationId: number | null;
}

/** VK's random_id is a signed 32-bit value for bots; 0 means "no dedup", so never 0. */
export function newRandomId(random: () => number): number {
  return 1 + Math.floor(random() * 0x7ffffffe);
}

/** Queues a message inside the caller's transaction; it goes out in parts of at most partLimit. */
export function queueMessage(db: Database, msg: NewMessage, partLimit: number, now: number, random: () => number): number {
  return db
    .prepare(
      `INSERT INTO outbox (peer_id, random_id, message, part_limit, purpose, application_id, state, attempts, next_attempt_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
    )
    .run(msg.peerId, newRandomId(random), msg.message, partLimit, msg.purpose, msg.applicationId, now, now, now).lastInsertRowid;
}

export interface OutgoingPart {
  text: string;
  randomId: number;
  /** sent_chars once VK accepted this part. */
  sentCharsAfter: number;
  isLast: boolean;
}

/**
 * The part to send next. Its random_id depends only on the row and where the part starts, so a
 * part sent again after a crash carries the same id and VK drops the repeat.
 */
export function nextPart(row: OutboxRow): OutgoingPart {
  const part = firstPart(row.message.slice(row.sent_chars), row.part_limit);
  const sentCharsAfter = row.sent_chars + part.next;
  const randomId =
    row.sent_chars === 0 ? row.random_id : ((row.random_id ^ Math.imul(row.sent_chars, 0x9e3779b1)) >>> 0) % 0x7ffffffe + 1;
  return { text: part.text, randomId, sentCharsAfter, isLast: sentCharsAfter >= row.message.length };
}

/**
 * Due rows, oldest first, at most one per peer and only the peer's oldest pending row, so a
 * result never overtakes its acknowledgement even while the acknowledgement waits to retry.
 * Hints go after everything else: a burst of chatter must not delay anyone's application.
 */
export function dueMessages(db: Database, now: number, limit: number, busyPeers: ReadonlySet<number>): OutboxRow[] {
  const rows = db
    .prepare(
      `SELECT o.id, o.peer_id, o.random_id, o.message, o.part_limit, o.sent_chars, o.purpose, o.application_id, o.attempts
         FROM outbox o
        WHERE o.state = 'pending' AND o.next_attempt_at <= ?
          AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.peer_id = o.peer_id AND p.state = 'pending' AND p.id < o.id)
        ORDER BY o.purpose = 'hint', o.id
        LIMIT ?`,
    )
    .all<OutboxRow>(now, limit + busyPeers.size);
  return rows.filter((r) => !busyPeers.has(r.peer_id)).slice(0, limit);
}

/** Whether this peer got a message of this purpose since `since` (to not repeat hints). */
export function sentRecently(db: Database, peerId: number, purpose: OutboxPurpose, since: number): boolean {
  return (
    db.prepare('SELECT 1 AS x FROM outbox WHERE peer_id = ? AND purpose = ? AND created_at >= ? LIMIT 1').get(peerId, purpose, since) !==
    undefined
  );
}

export function nextMessageDueAt(db: Database): number | undefined {
  const row = db.prepare(`SELECT MIN(next_attempt_at) AS at FROM outbox WHERE state = 'pending'`).get<{ at: number | null }>();
  return row?.at ?? undefined;
}

/** Counted before the call goes out, so a crash mid-send still shows the attempt. */
export function recordAttempt(db: Database, id: number, now: number): void {
  db.prepare('UPDATE outbox SET attempts = attempts + 1, updated_at = ? WHERE id = ?').run(now, id);
}

/** VK accepted a part: the row is sent when it was the last, otherwise the next part is due now. */
export function markPartSent(db: Database, id: number, part: OutgoingPart, vkMessageId: number, now: number): void {
  db.prepare(
    `UPDATE outbox SET state = CASE WHEN ? THEN 'sent' ELSE 'pending' END, sent_chars = ?, vk_message_id = ?,
            sent_at = CASE WHEN ? THEN ? ELSE NULL END, next_attempt_at = ?, last_error = NULL, last_error_code = NULL, updated_at = ?
      WHERE id = ? AND state = 'pending'`,
  ).run(part.isLast ? 1 : 0, part.sentCharsAfter, vkMessageId, part.isLast ? 1 : 0, now, now, now, id);
}

/** VK refused the part as too long (914): send smaller parts from here on; nothing was delivered. */
export function shrinkParts(db: Database, id: number, refusedLength: number, now: number): void {
  db.prepare(
    `UPDATE outbox SET part_limit = ?, last_error_code = 914, last_error = 'message too long', next_attempt_at = ?, updated_at = ?
      WHERE id = ? AND state = 'pending'`,
  ).run(Math.max(Math.floor(refusedLength / 2), 1), now, now, id);
}

export function reschedule(db: Database, id: number, at: number, code: number | null, error: string, now: number): void {
  db.prepare(
    `UPDATE outbox SET next_attempt_at = ?, last_error_code = ?, last_error = ?, updated_at = ? WHERE id = ? AND state = 'pending'`,
  ).run(at, code, error.slice(0, 1000), now, id);
}

export function markFinal(
  db: Database,
  id: number,
  state: 'undeliverable' | 'failed',
  code: number | null,
  error: string,
  now: number,
): void {
  db.prepare(
    `UPDATE outbox SET state = ?, last_error_code = ?, last_error = ?, updated_at = ? WHERE id = ? AND state = 'pending'`,
  ).run(state, code, error.slice(0, 1000), now, id);
}

export function countOutboxByState(db: Database): Record<OutboxState, number> {
  const counts: Record<OutboxState, number> = { pending: 0, sent: 0, undeliverable: 0, failed: 0 };
  for (const row of db.prepare('SELECT state, COUNT(*) AS n FROM outbox GROUP BY state').all<{ state: OutboxState; n: number }>()) {
    counts[row.state] = row.n;
  }
  return counts;
}
