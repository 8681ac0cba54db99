// `zakadrom status`: counts by state and the oldest waiting item, read without disturbing a
// running bot (plain reads in WAL mode never block its writer).
import type { Database } from '../db/driver.ts';
import { countApplicationsByState } from '../db/applications.ts';
import { countOutboxByState } from '../outbox/store.ts';
import { countByState } from '../queue/jobs.ts';

export interface Status {
  database: string;
  schemaVersion: number;
  applications: ReturnType<typeof countApplicationsByState>;
  jobs: ReturnType<typeof countByState>;
  outbox: ReturnType<typeof countOutboxByState>;
  /** Oldest job or message still waiting, with its age in seconds. */
  oldestWaiting: { kind: 'job' | 'message'; id: number; since: string; ageSeconds: number } | null;
}

export function readStatus(db: Database, now: number): Status {
  const schemaVersion = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get<{ v: number | null }>()?.v ?? 0;
  const job = db
    .prepare(`SELECT id, created_at AS at FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_at, id LIMIT 1`)
    .get<{ id: number; at: number }>();
  const msg = db
    .prepare(`SELECT id, created_at AS at FROM outbox WHERE state = 'pending' ORDER BY created_at, id LIMIT 1`)
    .get<{ id: number; at: number }>();
  const oldest = [job && { kind: 'job' as const, ...job }, msg && { kind: 'message' as const, ...msg }]
    .filter((x) => x !== undefined)
    .sort((a, b) => a.at - b.at)[0];
  return {
    database: db.path,
    schemaVersion,
    applications: countApplicationsByState(db),
    jobs: countByState(db),
    outbox: countOutboxByState(db),
    oldestWaiting: oldest
      ? { kind: oldest.kind, id: oldest.id, since: new Date(oldest.at).toISOString(), ageSeconds: Math.round((now - oldest.at) / 1000) }
      : null,
  };
}

export function formatStatus(s: Status): string {
  const line = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  return [
    `database:     ${s.database} (schema ${s.schemaVersion})`,
    `applications: ${line(s.applications)}`,
    `jobs:         ${line(s.jobs)}`,
    `outbox:       ${line(s.outbox)}`,
    `oldest waiting: ${s.oldestWaiting ? `${s.oldestWaiting.kind} ${s.oldestWaiting.id}, since ${s.oldestWaiting.since} (${s.oldestWaiting.ageSeconds} s)` : 'nothing'}`,
  ].join('\n');
}
