// One bot per database: the running bot records itself in bot_state and keeps a heartbeat;
// a second one refuses to start while the first is alive. Start-up recovery (every lease of a
// previous run is dead) is only sound because of this.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setState } from './bot-state.ts';
import type { Database } from './driver.ts';

export interface OwnerInfo {
  pid: number;
  host: string;
  token: string;
  startedAt: number;
}

export class DatabaseInUseError extends Error {
  readonly code = 'database_in_use';
  readonly retryable = false;
  constructor(path: string, owner: OwnerInfo, lastSeen: number) {
    super(
      `another zakadrom is using ${path}: pid ${owner.pid} on ${owner.host}, running since ` +
        `${new Date(owner.startedAt).toISOString()}, last seen ${new Date(lastSeen).toISOString()}. ` +
        'Stop it first, or give this one its own database with --db / ZAKADROM_DB.',
    );
    this.name = 'DatabaseInUseError';
  }
}

const KEY = 'owner';

export interface Ownership {
  token: string;
  /** Refreshes the heartbeat; false when another process has taken the database over. */
  heartbeat(now: number): boolean;
  release(): void;
}

/**
 * Takes the database for this process. A previous owner counts as gone when, on this host, its
 * process no longer exists, or when its heartbeat is older than staleMs (another host, or a pid
 * that a new process reuses).
 */
export function claimDatabase(
  db: Database,
  me: { pid: number; host: string },
  now: number,
  staleMs: number,
  isAlive: (pid: number) => boolean,
): Ownership {
  const token = randomUUID();
  db.transaction(() => {
    const row = db.prepare('SELECT value, updated_at FROM bot_state WHERE key = ?').get<{ value: string; updated_at: number }>(KEY);
    if (row) {
      const owner = JSON.parse(row.value) as OwnerInfo;
      const fresh = now - row.updated_at < staleMs;
      const gone = owner.host === me.host ? owner.pid === me.pid || !isAlive(owner.pid) : false;
      if (fresh && !gone) throw new DatabaseInUseError(db.path, owner, row.updated_at);
    }
    const info: OwnerInfo = { pid: me.pid, host: me.host, token, startedAt: now };
    setState(db, KEY, JSON.stringify(info), now);
  });
  const mine = `%"token":"${token}"%`;
  return {
    token,
    heartbeat(at) {
      return db.prepare('UPDATE bot_state SET updated_at = ? WHERE key = ? AND value LIKE ?').run(at, KEY, mine).changes === 1;
    },
    release() {
      db.prepare('DELETE FROM bot_state WHERE key = ? AND value LIKE ?').run(KEY, mine);
    },
  };
}

/** Whether a process with this pid exists on this host (signal 0 checks without signalling). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
  // A killed process that its parent has not reaped yet (a zombie) still answers signal 0.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc here: trust the signal
  }
}
