// The one place that knows which SQLite driver runs: bun:sqlite, node:sqlite or better-sqlite3
// behind a single small interface with identical behaviour (see STACK-NOTES: they differ in
// null vs undefined, transactions, pragmas, defaults and error codes).
import { createRequire } from 'node:module';

export type SqlValue = string | number | bigint | null | Uint8Array;
export type Row = Record<string, SqlValue>;

export interface RunResult {
  changes: number;
  lastInsertRowid: number;
}

export interface Statement {
  run(...params: SqlValue[]): RunResult;
  get<T = Row>(...params: SqlValue[]): T | undefined;
  all<T = Row>(...params: SqlValue[]): T[];
}

export interface Database {
  readonly driver: DriverName;
  readonly path: string;
  /** Cached by SQL text: statements are prepared once per connection. */
  prepare(sql: string): Statement;
  exec(sql: string): void;
  /** BEGIN IMMEDIATE ... COMMIT; rolls back and rethrows on error. Not re-entrant. */
  transaction<T>(fn: () => T): T;
  readonly inTransaction: boolean;
  close(): void;
}

export type DriverName = 'bun:sqlite' | 'node:sqlite' | 'better-sqlite3';

export interface OpenOptions {
  /** Milliseconds a writer waits for a lock before SQLITE_BUSY. */
  busyTimeoutMs: number;
  readonly?: boolean;
}

/** A SQLite failure with a driver-independent code (SQLITE_BUSY, SQLITE_CONSTRAINT_UNIQUE, ...). */
export class SqliteError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SqliteError';
    this.code = code;
    this.retryable = code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
  }
}

// Extended result codes that matter to callers; node:sqlite reports only numbers.
const ERRCODE_NAMES: Record<number, string> = {
  5: 'SQLITE_BUSY',
  6: 'SQLITE_LOCKED',
  8: 'SQLITE_READONLY',
  10: 'SQLITE_IOERR',
  11: 'SQLITE_CORRUPT',
  13: 'SQLITE_FULL',
  14: 'SQLITE_CANTOPEN',
  19: 'SQLITE_CONSTRAINT',
  26: 'SQLITE_NOTADB',
  517: 'SQLITE_BUSY_SNAPSHOT',
  787: 'SQLITE_CONSTRAINT_FOREIGNKEY',
  1555: 'SQLITE_CONSTRAINT_PRIMARYKEY',
  2067: 'SQLITE_CONSTRAINT_UNIQUE',
};

function normaliseError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof SqliteError) return error;
  const e = error as Error & { code?: unknown; errcode?: unknown; errno?: unknown };
  let code: string | undefined;
  if (typeof e.code === 'string' && e.code.startsWith('SQLITE_')) code = e.code;
  const num = typeof e.errcode === 'number' ? e.errcode : typeof e.errno === 'number' ? e.errno : undefined;
  if (num !== undefined && ERRCODE_NAMES[num] !== undefined && (code === undefined || code === 'SQLITE_ERROR')) {
    code = ERRCODE_NAMES[num];
  }
  if (code === undefined) return error;
  // Primary code (busy vs busy_snapshot etc.) decides retryability; keep the precise one too.
  const primary = code.startsWith('SQLITE_BUSY') ? 'SQLITE_BUSY' : code;
  return new SqliteError(primary, e.message, { cause: error });
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw normaliseError(error);
  }
}

interface RawStatement {
  run(...params: unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

interface RawConnection {
  prepare(sql: string): RawStatement;
  exec(sql: string): void;
  close(): void;
}

function adapt(driver: DriverName, path: string, raw: RawConnection): Database {
  const cache = new Map<string, Statement>();
  let inTransaction = false;
  const db: Database = {
    driver,
    path,
    prepare(sql) {
      const cached = cache.get(sql);
      if (cached) return cached;
      const stmt = wrap(() => raw.prepare(sql));
      const adapted: Statement = {
        run: (...params) =>
          wrap(() => {
            const r = stmt.run(...params);
            return { changes: Number(r.changes), lastInsertRowid: Number(r.lastInsertRowid) };
          }),
        // bun:sqlite answers null for "no row"; everyone else undefined.
        get: <T>(...params: SqlValue[]) => wrap(() => (stmt.get(...params) ?? undefined) as T | undefined),
        all: <T>(...params: SqlValue[]) => wrap(() => stmt.all(...params) as T[]),
      };
      cache.set(sql, adapted);
      return adapted;
    },
    exec(sql) {
      wrap(() => raw.exec(sql));
    },
    transaction(fn) {
      if (inTransaction) throw new Error('nested transaction: pass the open transaction down instead');
      wrap(() => raw.exec('BEGIN IMMEDIATE'));
      inTransaction = true;
      try {
        const result = fn();
        wrap(() => raw.exec('COMMIT'));
        return result;
      } catch (error) {
        try {
          raw.exec('ROLLBACK');
        } catch {
          // SQLite may already have rolled back (e.g. after SQLITE_FULL); the original error matters.
        }
        throw normaliseError(error);
      } finally {
        inTransaction = false;
      }
    },
    get inTransaction() {
      return inTransaction;
    },
    close() {
      cache.clear();
      raw.close();
    },
  };
  return db;
}

function isBun(): boolean {
  return typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined';
}

function openRaw(path: string, readonly: boolean): { driver: DriverName; raw: RawConnection } {
  const require = createRequire(import.meta.url);
  if (isBun()) {
    const { Database: BunDatabase } = require('bun:sqlite') as {
      Database: new (p: string, o: { readonly?: boolean; create?: boolean }) => RawConnection;
    };
    const raw = readonly ? new BunDatabase(path, { readonly: true }) : new BunDatabase(path, { create: true });
    return { driver: 'bun:sqlite', raw };
  }
  let nodeSqlite: { DatabaseSync: new (p: string, o?: { readOnly?: boolean }) => RawConnection } | undefined;
  try {
    nodeSqlite = require('node:sqlite');
  } catch {
    nodeSqlite = undefined; // Node 20 has no node:sqlite: better-sqlite3 is the driver there.
  }
  if (nodeSqlite) {
    return { driver: 'node:sqlite', raw: new nodeSqlite.DatabaseSync(path, { readOnly: readonly }) };
  }
  const BetterSqlite = require('better-sqlite3') as new (p: string, o?: { readonly?: boolean }) => RawConnection;
  return { driver: 'better-sqlite3', raw: new BetterSqlite(path, { readonly }) };
}

/** Opens a connection with the same settings on every driver: WAL, foreign keys, busy timeout. */
export function openDatabase(path: string, options: OpenOptions): Database {
  const { driver, raw } = wrap(() => openRaw(path, options.readonly ?? false));
  const db = adapt(driver, path, raw);
  try {
    // busy_timeout first: switching to WAL itself needs a lock another process may hold.
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs))}`);
    db.exec('PRAGMA foreign_keys = ON');
    if (!options.readonly) {
      const mode = db.prepare('PRAGMA journal_mode = WAL').get<{ journal_mode: string }>();
      if (mode?.journal_mode !== 'wal' && path !== ':memory:') {
        throw new SqliteError('SQLITE_CANTOPEN', `could not switch ${path} to WAL (got ${mode?.journal_mode})`);
      }
      // NORMAL in WAL is durable against process crashes; only power loss may drop the last commits.
      db.exec('PRAGMA synchronous = NORMAL');
    }
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
