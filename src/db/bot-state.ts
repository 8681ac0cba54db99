// Small named values kept between runs in bot_state (e.g. the long-poll position).
import type { Database } from './driver.ts';

export function getState(db: Database, key: string): { value: string; at: number } | undefined {
  const row = db.prepare('SELECT value, updated_at FROM bot_state WHERE key = ?').get<{ value: string; updated_at: number }>(key);
  return row ? { value: row.value, at: row.updated_at } : undefined;
}

export function setState(db: Database, key: string, value: string, now: number): void {
  db.prepare(
    `INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  ).run(key, value, now);
}
