// Where the SQL migrations come from when running from source: the migrations/ folder.
// The compiled binary replaces this module with one that embeds the files (build.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface MigrationFile {
  name: string;
  sql: string;
}

export function loadMigrationFiles(): MigrationFile[] {
  const dir = fileURLToPath(new URL('../../migrations/', import.meta.url));
  return readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .map((name) => ({ name, sql: readFileSync(dir + name, 'utf8') }));
}
