// Puts native libraries embedded in the compiled binary where the dynamic loader can use them:
// a content-hashed folder under the first usable cache directory, written atomically, shared
// safely by processes starting at the same time.
import { closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface EmbeddedFile {
  /** Where the binary's embedded file system holds it (readable with fs). */
  embedded: string;
  /** Its path inside the extracted folder; the layout keeps the addon's RPATH ($ORIGIN/...) valid. */
  relative: string;
}

export class NativeLoadError extends Error {
  readonly code = 'native_load_failed';
  readonly retryable = false;
  constructor(readonly attempts: { dir: string; reason: string }[]) {
    // One line: it travels through worker errors and logs that keep only the first line.
    super(
      'cannot load the image library (libvips) that zakadrom carries inside its binary; tried ' +
        attempts.map((a) => `${a.dir} (${a.reason})`).join(', ') +
        '. Set ZAKADROM_NATIVE_DIR to a directory this user can write that is not mounted noexec.',
    );
    this.name = 'NativeLoadError';
  }
}

export interface CacheEnv {
  ZAKADROM_NATIVE_DIR?: string | undefined;
  XDG_CACHE_HOME?: string | undefined;
  HOME?: string | undefined;
  TMPDIR?: string | undefined;
}

/** Directories to try, in order: the configured one, the user's cache, then temporary space. */
export function cacheCandidates(env: CacheEnv, uid: number, executableDir: string): string[] {
  const list: string[] = [];
  if (env.ZAKADROM_NATIVE_DIR) list.push(env.ZAKADROM_NATIVE_DIR);
  if (env.XDG_CACHE_HOME) list.push(join(env.XDG_CACHE_HOME, 'zakadrom'));
  else if (env.HOME) list.push(join(env.HOME, '.cache', 'zakadrom'));
  list.push(join(env.TMPDIR || '/tmp', `zakadrom-${uid}`));
  list.push(join(executableDir, '.zakadrom-native'));
  return [...new Set(list)];
}

/**
 * Another user must not be able to plant a library for us to load. The base directory is never
 * changed (it may be /tmp); it may be shared only with the sticky bit, which stops others from
 * replacing our entries. The folder we load from must be ours and writable by nobody else.
 */
function checkBase(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error('not a directory');
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) throw new Error('writable by other users (and not sticky)');
}

function checkOwnFolder(dir: string, uid: number): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
  if (uid >= 0 && st.uid !== uid) throw new Error(`${dir} belongs to uid ${st.uid}, not to this user (${uid})`);
  if ((st.mode & 0o022) !== 0) throw new Error(`${dir} is writable by other users`);
}

function writeAtomically(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const fd = openSync(tmp, 'wx', 0o700);
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * Makes `<dir>/<hash>/` hold every file. A folder is complete when its marker exists; the marker
 * is written last, so a process killed mid-way leaves an incomplete folder that the next one
 * rewrites file by file (each rename is atomic, and every writer writes the same bytes).
 */
export function materialise(base: string, hash: string, files: EmbeddedFile[], uid: number): string {
  checkBase(base);
  const dir = join(base, hash);
  checkOwnFolder(dir, uid);
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return dir;
  for (const file of files) writeAtomically(join(dir, file.relative), readFileSync(file.embedded));
  writeAtomically(marker, new TextEncoder().encode(hash));
  return dir;
}

/**
 * Extracts and loads, trying each candidate in turn: a read-only or noexec directory (dlopen then
 * fails to map the library) falls through to the next one.
 */
export function loadEmbeddedAddon(
  hash: string,
  files: EmbeddedFile[],
  addonRelative: string,
  candidates: string[],
  uid: number,
): unknown {
  const attempts: { dir: string; reason: string }[] = [];
  for (const base of candidates) {
    try {
      const dir = materialise(base, hash, files, uid);
      const module = { exports: {} as unknown };
      process.dlopen(module, join(dir, addonRelative));
      return module.exports;
    } catch (error) {
      const reason = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
      attempts.push({ dir: base, reason: /failed to map segment/.test(reason) ? `${reason} (mounted noexec?)` : reason });
      // A folder that cannot be used (half-written, or on a noexec mount) is 19 MB of nothing.
      try {
        const st = lstatSync(join(base, hash));
        if (st.isDirectory() && (uid < 0 || st.uid === uid)) rmSync(join(base, hash), { recursive: true, force: true });
      } catch {
        // Best effort: an unwritable or missing folder cannot be cleaned, and is skipped anyway.
      }
    }
  }
  throw new NativeLoadError(attempts);
}
