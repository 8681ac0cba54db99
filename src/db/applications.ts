// The applications, photos and updates tables: plain SQL for the photo-application flow.
import type { PhotoMetrics, PhotoFailureReason } from '../analysis/types.ts';
import type { Database } from './driver.ts';
import type { PhotoOrigin } from '../vk/incoming.ts';

export type UpdateOutcome = 'application' | 'no_photo' | 'hint' | 'ignored' | 'over_limit';

/** Records the update's dedup key; false when it was recorded before (a repeat delivery). */
export function recordUpdate(
  db: Database,
  u: { dedupKey: string; eventId: string | null; peerId: number; fromId: number; outcome: UpdateOutcome },
  now: number,
): boolean {
  return (
    db
      .prepare(
        `INSERT INTO updates (dedup_key, event_id, peer_id, from_id, outcome, received_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (dedup_key) DO NOTHING`,
      )
      .run(u.dedupKey, u.eventId, u.peerId, u.fromId, u.outcome, now).changes === 1
  );
}

export function insertApplication(
  db: Database,
  a: {
    peerId: number;
    fromId: number;
    conversationMessageId: number;
    messageId: number;
    sentAt: number;
    photoCount: number;
    photosReceived: number;
  },
  now: number,
): number {
  return db
    .prepare(
      `INSERT INTO applications (peer_id, from_id, conversation_message_id, message_id, state, photo_count, photos_received, sent_at, received_at)
       VALUES (?, ?, ?, ?, 'analysing', ?, ?, ?, ?)`,
    )
    .run(a.peerId, a.fromId, a.conversationMessageId, a.messageId, a.photoCount, a.photosReceived, a.sentAt, now).lastInsertRowid;
}

export function insertPhoto(db: Database, p: { applicationId: number; position: number; origin: PhotoOrigin; url: string }): number {
  return db
    .prepare(`INSERT INTO photos (application_id, position, origin, url, state) VALUES (?, ?, ?, ?, 'waiting')`)
    .run(p.applicationId, p.position, p.origin, p.url).lastInsertRowid;
}

export interface PhotoRow {
  id: number;
  application_id: number;
  position: number;
  origin: PhotoOrigin;
  url: string;
  state: 'waiting' | 'analysed' | 'failed';
  verdict: 'ok' | 'retake' | null;
  reasons: string | null;
  failure_reason: PhotoFailureReason | null;
  failure_detail: string | null;
  format: string | null;
  metrics_json: string | null;
  duplicate_of: number | null;
}

export function getPhoto(db: Database, id: number): PhotoRow | undefined {
  return db.prepare('SELECT * FROM photos WHERE id = ?').get<PhotoRow>(id);
}

export function photosOfApplication(db: Database, applicationId: number): PhotoRow[] {
  return db.prepare('SELECT * FROM photos WHERE application_id = ? ORDER BY position').all<PhotoRow>(applicationId);
}

export function storeAnalysed(
  db: Database,
  photoId: number,
  m: PhotoMetrics,
  verdict: { verdict: 'ok' | 'retake'; reasons: string[]; duplicateOf: number | null },
  now: number,
): void {
  db.prepare(
    `UPDATE photos SET state = 'analysed', verdict = ?, reasons = ?, format = ?, bytes = ?, width = ?, height = ?,
            mean_luma = ?, sharpness = ?, phash = ?, duplicate_of = ?, camera = ?, taken_at = ?, has_gps = ?,
            metrics_json = ?, analysed_at = ?
      WHERE id = ? AND state = 'waiting'`,
  ).run(
    verdict.verdict,
    verdict.reasons.join(','),
    m.format,
    m.bytes,
    m.width,
    m.height,
    m.meanLuma,
    m.sharpness,
    m.phash,
    verdict.duplicateOf,
    m.exif.camera,
    m.exif.takenAt,
    m.exif.hasGps ? 1 : 0,
    JSON.stringify(m),
    now,
    photoId,
  );
}

export function storeFailed(
  db: Database,
  photoId: number,
  failure: { reason: PhotoFailureReason; detail: string; format?: string | undefined },
  now: number,
): void {
  db.prepare(
    `UPDATE photos SET state = 'failed', failure_reason = ?, failure_detail = ?, format = ?, analysed_at = ?
      WHERE id = ? AND state = 'waiting'`,
  ).run(failure.reason, failure.detail.slice(0, 500), failure.format ?? null, now, photoId);
}

/** Perceptual hashes of photos of other applications, for the "already sent" check. */
export function earlierHashes(db: Database, applicationId: number): { id: number; phash: string }[] {
  return db
    .prepare(`SELECT id, phash FROM photos WHERE phash IS NOT NULL AND application_id <> ? ORDER BY id`)
    .all<{ id: number; phash: string }>(applicationId);
}

export function waitingPhotoCount(db: Database, applicationId: number): number {
  return db.prepare(`SELECT COUNT(*) AS n FROM photos WHERE application_id = ? AND state = 'waiting'`).get<{ n: number }>(applicationId)?.n ?? 0;
}

export interface ApplicationRow {
  id: number;
  peer_id: number;
  from_id: number;
  photo_count: number;
  photos_received: number;
  state: 'analysing' | 'analysed';
}

export function getApplication(db: Database, id: number): ApplicationRow | undefined {
  return db.prepare('SELECT id, peer_id, from_id, photo_count, photos_received, state FROM applications WHERE id = ?').get<ApplicationRow>(id);
}

/** True exactly once per application: the caller then queues the result message. */
export function markAnalysed(db: Database, id: number, now: number): boolean {
  return db.prepare(`UPDATE applications SET state = 'analysed', analysed_at = ? WHERE id = ? AND state = 'analysing'`).run(now, id)
    .changes === 1;
}

/** Applications this user started since `since` (for the per-user limit). */
export function applicationsSince(db: Database, fromId: number, since: number): number {
  return db.prepare('SELECT COUNT(*) AS n FROM applications WHERE from_id = ? AND received_at >= ?').get<{ n: number }>(fromId, since)?.n ?? 0;
}

export function countApplicationsByState(db: Database): Record<'analysing' | 'analysed', number> {
  const counts = { analysing: 0, analysed: 0 };
  for (const r of db.prepare('SELECT state, COUNT(*) AS n FROM applications GROUP BY state').all<{ state: 'analysing' | 'analysed'; n: number }>()) {
    counts[r.state] = r.n;
  }
  return counts;
}
