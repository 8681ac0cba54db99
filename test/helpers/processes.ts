// Starts zakadrom as a real child process on the runtime running the tests, and waits for it.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface Command {
  cmd: string;
  args: string[];
}

/** The command that runs src/main.ts here: bun directly, or node with tsx. */
export function zakadromCommand(): Command {
  if (typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined') return { cmd: process.execPath, args: [MAIN] };
  return { cmd: process.execPath, args: ['--import', 'tsx', MAIN] };
}

export interface Running {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of re in stdout+stderr, or rejects on exit/timeout. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  cwd?: string;
  /** Another way to run zakadrom (the compiled binary); default: the sources on this runtime. */
  command?: Command;
}

export function startZakadrom(argv: string[], env: Record<string, string | undefined> = {}, options: StartOptions = {}): Running {
  const { cmd, args } = options.command ?? zakadromCommand();
  const cwd = options.cwd ?? ROOT;
  // An undefined value removes the variable (spawn would pass the string "undefined").
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ZAKADROM_LOG_FORMAT: 'json', ...env })) if (v !== undefined) merged[k] = v;
  const proc = spawn(cmd, [...args, ...argv], {
    cwd,
    env: merged,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    for (const l of listeners) l();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      resolve({ code, signal });
      for (const l of listeners) l();
    }),
  );
  let done = false;
  void exited.then(() => (done = true));
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(re, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${re} in output of zakadrom ${argv.join(' ')}:\n${out}\n${err.slice(-3000)}`));
        }, timeoutMs);
        function check() {
          const m = (out + '\n' + err).match(re);
          if (m) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve(m);
          } else if (done) {
            clearTimeout(timer);
            listeners.delete(check);
            reject(new Error(`zakadrom ${argv.join(' ')} exited before printing ${re}:\n${out}\n${err.slice(-3000)}`));
          }
        }
        listeners.add(check);
        check();
      });
    },
    async kill(signal = 'SIGKILL') {
      if (!done) proc.kill(signal);
      return exited;
    },
  };
}

/** Runs zakadrom to completion and returns its exit code and output. */
export async function runZakadrom(argv: string[], env: Record<string, string | undefined> = {}, options: StartOptions = {}) {
  const r = startZakadrom(argv, env, options);
  const { code } = await r.exited;
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}
