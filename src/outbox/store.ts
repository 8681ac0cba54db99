// The outbox table: messages waiting to be sent, each with its random_id fixed at creation.
import type { Database } from '../db/driver.ts';
import { splitText } from './split.ts';

export type OutboxPurpose = 'ack' | 'result' | 'no_photo' | 'hint';
export type OutboxState = 'pending' | 'sent' | 'undeliverable' | 'failed' | 'split';

export interface OutboxRow {
  id: number;
  peer_id: number;
  random_id: number;
  message: string;
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

/**
 * Queues a message inside the caller's transaction. Text longer than maxLength is stored as
 * several rows, in order, so VK never has to refuse it.
 */
export function queueMessage(db: Database, msg: NewMessage, maxLength: number, now: number, random: () => number): number[] {
  const insert = db.prepare(
    `INSERT INTO outbox (peer_id, random_id, message, purpose, application_id, state, attempts, next_attempt_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
  );
  return splitText(msg.message, maxLength).map(
    (part) => insert.run(msg.peerId, newRandomId(random), part, msg.purpose, msg.applicationId, now, now, now).lastInsertRowid,
  );
}

/**
 * Due rows, oldest first, at most one per peer and only the peer's oldest pending row, so a
 * result never overtakes its acknowledgement even while the acknowledgement waits to retry.
 */
export function dueMessages(db: Database, now: number, limit: number, busyPeers: ReadonlySet<number>): OutboxRow[] {
  const rows = db
    .prepare(
      `SELECT o.id, o.peer_id, o.random_id, o.message, o.purpose, o.application_id, o.attempts
         FROM outbox o
        WHERE o.state = 'pending' AND o.next_attempt_at <= ?
          AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.peer_id = o.peer_id AND p.state = 'pending' AND p.id < o.id)
        ORDER BY o.id
        LIMIT ?`,
    )
    .all<OutboxRow>(now, limit + busyPeers.size);
  return rows.filter((r) => !busyPeers.has(r.peer_id)).slice(0, limit);
}

export function nextMessageDueAt(db: Database): number | undefined {
  const row = db.prepare(`SELECT MIN(next_attempt_at) AS at FROM outbox WHERE state = 'pending'`).get<{ at: number | null }>();
  return row?.at ?? undefined;
}

/** Counted before the call goes out, so a crash mid-send still shows the attempt. */
export function recordAttempt(db: Database, id: number, now: number): void {
  db.prepare('UPDATE outbox SET attempts = attempts + 1, updated_at = ? WHERE id = ?').run(now, id);
}

export function markSent(db: Database, id: number, vkMessageId: number, now: number): void {
  db.prepare(
    `UPDATE outbox SET state = 'sent', vk_message_id = ?, sent_at = ?, updated_at = ?, last_error = NULL WHERE id = ? AND state = 'pending'`,
  ).run(vkMessageId, now, now, id);
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

/**
 * VK refused the text as too long (914): replace the row by parts of at most half its length.
 * Nothing was delivered, so new random_ids cannot double anything.
 */
export function splitMessage(db: Database, row: OutboxRow, now: number, random: () => number): number[] {
  const limit = Math.max(Math.floor(row.message.length / 2), 1);
  db.prepare(`UPDATE outbox SET state = 'split', last_error_code = 914, updated_at = ? WHERE id = ? AND state = 'pending'`).run(
    now,
    row.id,
  );
  return queueMessage(
    db,
    { peerId: row.peer_id, message: row.message, purpose: row.purpose, applicationId: row.application_id },
    limit,
    now,
    random,
  );
}

export function countOutboxByState(db: Database): Record<OutboxState, number> {
  const counts: Record<OutboxState, number> = { pending: 0, sent: 0, undeliverable: 0, failed: 0, split: 0 };
  for (const row of db.prepare('SELECT state, COUNT(*) AS n FROM outbox GROUP BY state').all<{ state: OutboxState; n: number }>()) {
    counts[row.state] = row.n;
  }
  return counts;
}
