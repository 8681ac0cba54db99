// Applies the numbered SQL migrations, one transaction each, and refuses a database that a
// newer zakadrom has migrated or whose applied migrations were changed afterwards.
import { createHash } from 'node:crypto';
import type { Database } from './driver.ts';
import type { MigrationFile } from './migration-files.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {
  readonly code: 'database_newer' | 'checksum_mismatch' | 'bad_migration_name';
  readonly retryable = false;
  constructor(code: MigrationError['code'], message: string) {
    super(message);
    this.name = 'MigrationError';
    this.code = code;
  }
}

export function parseMigrations(files: MigrationFile[]): Migration[] {
  const migrations = files.map(({ name, sql }) => {
    const match = /^(\d{4})_[a-z0-9_]+\.sql$/.exec(name);
    if (!match?.[1]) {
      throw new MigrationError('bad_migration_name', `migration file ${name} is not named NNNN_words.sql`);
    }
    const checksum = createHash('sha256').update(sql).digest('hex');
    return { version: Number(match[1]), name, sql, checksum };
  });
  migrations.sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new MigrationError('bad_migration_name', `migrations must be numbered 1..N without gaps; found ${m.name}`);
    }
  });
  return migrations;
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

/** Applies what is missing; returns the versions applied now. */
export function migrate(db: Database, migrations: Migration[], now: number): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const applied = db.prepare('SELECT version, name, checksum FROM schema_migrations ORDER BY version').all<AppliedRow>();
  const known = migrations.length;
  const newest = applied.at(-1)?.version ?? 0;
  if (newest > known) {
    throw new MigrationError(
      'database_newer',
      `the database ${db.path} has schema version ${newest}, but this zakadrom knows versions up to ${known}: ` +
        'it was used by a newer zakadrom. Run that newer version, or point --db / ZAKADROM_DB at another file.',
    );
  }
  for (const row of applied) {
    const mine = migrations[row.version - 1];
    if (mine && mine.checksum !== row.checksum) {
      throw new MigrationError(
        'checksum_mismatch',
        `migration ${row.name} was applied to ${db.path} with different contents than this zakadrom's ${mine.name}; ` +
          'the database belongs to another build. Restore a backup or use another --db file.',
      );
    }
  }
  const done: number[] = [];
  for (const m of migrations.slice(newest)) {
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)').run(
        m.version,
        m.name,
        m.checksum,
        now,
      );
    });
    done.push(m.version);
  }
  return done;
}
