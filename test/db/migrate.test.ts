import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openDatabase } from '../../src/db/driver.ts';
import { loadMigrationFiles } from '../../src/db/migration-files.ts';
import { migrate, MigrationError, parseMigrations } from '../../src/db/migrate.ts';
import { tempDb, tempDir } from '../helpers/db.ts';

describe('database', () => {
  it('opens with WAL, foreign keys and the busy timeout set, on this runtime\'s driver', () => {
    const t = tempDb();
    try {
      const get = (sql: string) => Object.values(t.db.prepare(sql).get() ?? {})[0];
      assert.equal(get('PRAGMA journal_mode'), 'wal');
      assert.equal(get('PRAGMA foreign_keys'), 1);
      assert.equal(get('PRAGMA busy_timeout'), 2000);
      assert.equal(t.db.prepare('SELECT 1 AS x WHERE 0').get(), undefined, 'no row is undefined on every driver');
      assert.throws(
        () => t.db.prepare('INSERT INTO photos (application_id, position, origin, url, state) VALUES (999, 1, ?, ?, ?)').run('attachment', 'u', 'waiting'),
        { code: 'SQLITE_CONSTRAINT_FOREIGNKEY' },
      );
      t.db.prepare('INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, ?)').run('k', 'v', 0);
      assert.throws(() => t.db.prepare('INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, ?)').run('k', 'v', 0), {
        code: 'SQLITE_CONSTRAINT_PRIMARYKEY',
      });
    } finally {
      t.cleanup();
    }
  });

  it('applies migrations once, each recorded with a checksum', () => {
    const dir = tempDir();
    const db = openDatabase(join(dir, 'm.db'), { busyTimeoutMs: 1000 });
    const migrations = parseMigrations(loadMigrationFiles());
    assert.deepEqual(migrate(db, migrations, 5), migrations.map((m) => m.version));
    assert.deepEqual(migrate(db, migrations, 6), []);
    const rows = db.prepare('SELECT version, checksum, applied_at FROM schema_migrations').all<{ checksum: string }>();
    assert.equal(rows.length, migrations.length);
    assert.match(rows[0]?.checksum ?? '', /^[0-9a-f]{64}$/);
    db.close();
  });

  it('refuses a database migrated by a newer zakadrom, with a clear message', () => {
    const dir = tempDir();
    const db = openDatabase(join(dir, 'n.db'), { busyTimeoutMs: 1000 });
    const files = loadMigrationFiles();
    migrate(db, parseMigrations([...files, { name: '9999_future.sql', sql: 'CREATE TABLE future (x);' }].map((f, i) => ({ ...f, name: f.name.replace(/^\d{4}/, String(i + 1).padStart(4, '0')) }))), 0);
    assert.throws(() => migrate(db, parseMigrations(files), 0), (e: unknown) => {
      assert.ok(e instanceof MigrationError);
      assert.equal(e.code, 'database_newer');
      assert.match(e.message, /newer zakadrom/);
      return true;
    });
    db.close();
  });

  it('refuses a database whose applied migration differs from ours', () => {
    const dir = tempDir();
    const db = openDatabase(join(dir, 'c.db'), { busyTimeoutMs: 1000 });
    migrate(db, parseMigrations(loadMigrationFiles()), 0);
    db.exec(`UPDATE schema_migrations SET checksum = 'x' WHERE version = 1`);
    assert.throws(() => migrate(db, parseMigrations(loadMigrationFiles()), 0), { code: 'checksum_mismatch' });
    db.close();
  });

  it('rolls back a failing migration whole', () => {
    const dir = tempDir();
    const db = openDatabase(join(dir, 'f.db'), { busyTimeoutMs: 1000 });
    assert.throws(() => migrate(db, parseMigrations([{ name: '0001_bad.sql', sql: 'CREATE TABLE a (x); CREATE TABLE a (y);' }]), 0));
    assert.equal(db.prepare(`SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'a'`).get<{ n: number }>()?.n, 0);
    db.close();
  });
});
