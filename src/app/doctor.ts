// `zakadrom doctor`: a self-test of the parts that most often break on a new host (SQLite
// driver and migrations, the image library in a worker thread, the database file), each
// reported as ok or failed with the reason.
import { existsSync } from 'node:fs';
import type { AnalysisOptions, AnalysisOutcome } from '../analysis/types.ts';
import { openDatabase, type Database } from '../db/driver.ts';
import { migrate, type Migration } from '../db/migrate.ts';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface DoctorDeps {
  dbPath: string;
  migrations: Migration[];
  analyse(bytes: Uint8Array, options: AnalysisOptions): Promise<AnalysisOutcome>;
  analysisOptions: AnalysisOptions;
  now: number;
}

// A 16x16 PNG made for this self-test (red rises left to right, green top to bottom, blue in a
// checkerboard): small enough to embed, structured enough to give real metrics.
const SELF_TEST_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAACXBIWXMAAAPoAAAD6AG1e1JrAAABrUlEQVQozw3N4RRAIRAG0UEIYRFCCCGERQghhBBCCCGEEBZhDb73/s+ZC1CQQUUNOnIYaMJCGw668FBAoj9XKVhRLbSiXvCiUZhFq7CLTuEWvUIUZfn/RjGZUU3N6CY3hmkay7SNY7rGM4WR9gtVpWJVtdKqesWrRmVWrcquOpVb9SpRlfUXGqXJGrWpNXqTN0bTbKym3ThNt/GaopHtF7pKx7pqp3X1jneNzuxand11OrfrdaIr+y84xWVOdTWnu9wZruks13aO6zrPFU76LwyVgQ3VQRvqAx8agzm0BnvoDO7QG8RQjl+YlCmb1Kk26VM+GVNzsqb25EzdyZuKSc5fWCoLW6qLttQXvjQWc2kt9tJZ3KW3iKVcv7ApW7apW23Tt3wztuZmbe3N2bqbtxWb3L9wVA52VA/tqB/8aBzm0Trso3O4R+8QR3l+4VKu7FKv2qVf+WVczcu62pdzdS/vKi55f+GpPOypPtpTf/jTeMyn9dhP53Gf3iOe8v1CUEIW1FALesiDEZrBCu3ghG7wQhFk/EKqJJaqSUv1xFMjmamV7NRJbuolkcrkA8Rzb5ArotqJAAAAAElFTkSuQmCC';

function message(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0] ?? '' : String(error);
}

async function check(name: string, run: () => string | Promise<string>): Promise<Check> {
  try {
    return { name, ok: true, detail: await run() };
  } catch (error) {
    return { name, ok: false, detail: message(error) };
  }
}

/** Decodes the built-in image in a worker; throws with the reason when the image library fails. */
export async function imageSelfTest(analyse: DoctorDeps['analyse'], options: AnalysisOptions): Promise<string> {
  const outcome = await analyse(Buffer.from(SELF_TEST_PNG, 'base64'), { ...options, minSide: 1 });
  if (!outcome.ok) throw new Error(`${outcome.reason}: ${outcome.detail}`);
  const m = outcome.metrics;
  if (m.width !== 16 || m.height !== 16 || !Number.isFinite(m.meanLuma)) {
    throw new Error(`decoded ${m.width}x${m.height}, mean ${m.meanLuma}: expected a 16x16 image`);
  }
  return `decoded the built-in ${m.format} test image (${m.width}x${m.height}, mean brightness ${m.meanLuma.toFixed(1)})`;
}

export async function runDoctor(deps: DoctorDeps): Promise<Check[]> {
  const checks: Check[] = [];
  checks.push(
    await check('sqlite', () => {
      // In memory: this checks the driver and the migrations, not whatever disk TMPDIR is on.
      let db: Database | undefined;
      try {
        db = openDatabase(':memory:', { busyTimeoutMs: 1000 });
        const applied = migrate(db, deps.migrations, deps.now);
        const version = db.prepare('SELECT sqlite_version() AS v').get<{ v: string }>()?.v;
        return `${db.driver} (SQLite ${version}), ${applied.length} migration(s) applied to a scratch database`;
      } finally {
        db?.close();
      }
    }),
  );
  checks.push(await check('image analysis in a worker thread', () => imageSelfTest(deps.analyse, deps.analysisOptions)));
  checks.push(
    await check('database file', () => {
      if (!existsSync(deps.dbPath)) return `${deps.dbPath} does not exist yet; the bot creates it at start`;
      const db = openDatabase(deps.dbPath, { busyTimeoutMs: 2000, readonly: true });
      try {
        const quick = db.prepare('PRAGMA quick_check').get<{ quick_check: string }>()?.quick_check;
        if (quick !== 'ok') throw new Error(`${deps.dbPath}: integrity check says ${quick}`);
        const version = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get<{ v: number | null }>()?.v ?? 0;
        const known = deps.migrations.length;
        if (version > known) throw new Error(`${deps.dbPath} has schema ${version}, newer than this zakadrom (${known})`);
        return `${deps.dbPath}: schema ${version} of ${known}, integrity ok`;
      } finally {
        db.close();
      }
    }),
  );
  return checks;
}

export function formatChecks(checks: Check[]): string {
  return checks.map((c) => `${c.ok ? 'ok    ' : 'FAILED'} ${c.name}: ${c.detail}`).join('\n');
}
