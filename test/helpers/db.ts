// Real SQLite files in a temporary folder, migrated like the bot does it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../../src/db/driver.ts';
import { loadMigrationFiles } from '../../src/db/migration-files.ts';
import { migrate, parseMigrations } from '../../src/db/migrate.ts';

export interface TempDb {
  db: Database;
  dir: string;
  path: string;
  cleanup(): void;
}

export function tempDir(prefix = 'zakadrom-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function tempDb(): TempDb {
  const dir = tempDir();
  const path = join(dir, 'test.db');
  const db = openDatabase(path, { busyTimeoutMs: 2000 });
  migrate(db, parseMigrations(loadMigrationFiles()), 0);
  return {
    db,
    dir,
    path,
    cleanup() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A clock the test moves by hand; timers fire when it passes their time. */
export function manualClock(start = 1_700_000_000_000) {
  let now = start;
  const timers: { at: number; fn: () => void }[] = [];
  return {
    now: () => now,
    setTimer(fn: () => void, ms: number) {
      const t = { at: now + ms, fn };
      timers.push(t);
      return () => {
        const i = timers.indexOf(t);
        if (i >= 0) timers.splice(i, 1);
      };
    },
    sleep(ms: number) {
      return new Promise<void>((resolve) => this.setTimer(resolve, ms));
    },
    advance(ms: number) {
      now += ms;
      for (const t of [...timers].sort((a, b) => a.at - b.at)) {
        if (t.at <= now) {
          timers.splice(timers.indexOf(t), 1);
          t.fn();
        }
      }
    },
  };
}
