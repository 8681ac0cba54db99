// Start-up and memory of the three ways to run zakadrom, measured side by side in one run:
// the compiled binary, `bun run src/main.ts`, and Node 20 from source (tsx).
// Figures: binary size; exec -> ready (sandbox URL printed, bot ready and the first long poll
// seen by the sandbox); idle RSS; peak RSS while analysing 8 MP phone photos.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname ?? '.', '..');
const SHARED = join(ROOT, '..', 'shared', 'corpus', 'photos');

export interface Variant {
  name: string;
  cmd: string;
  args: string[];
  /** Where it runs: the binary in an empty folder, the sources in the checkout (tsx resolves from there). */
  cwd?: string;
}

export interface StartupFigures {
  variant: string;
  readyMs: number[];
  idleRssMiB: number[];
  busyPeakRssMiB: number[];
}

/** The sandbox runs when VK_TOKEN is absent (an empty one is an error). */
function withoutToken(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { VK_TOKEN: _token, ...rest } = env;
  return rest;
}

function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function oneRound(v: Variant, photos: Buffer[]): Promise<{ readyMs: number; idleRssMiB: number; busyPeakRssMiB: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'zakadrom-bench-'));
  const started = Date.now();
  const child = spawn(v.cmd, [...v.args, 'run', '--port', '0', '--db', join(dir, 'b.db')], {
    cwd: v.cwd ?? dir,
    env: { ...withoutToken(process.env), ZAKADROM_LOG_FORMAT: 'json', ZAKADROM_WORKERS: '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const url = await waitFor(() => /^sandbox: (http:\/\/\S+)$/m.exec(out)?.[1], 30_000, `the sandbox URL from ${v.name}: ${out}`);
    await waitFor(() => (out.includes('bot ready') ? true : undefined), 30_000, 'bot ready');
    const firstPoll = await waitFor(async () => {
      const res = await fetch(`${url}/sandbox/calls?method=longpoll`);
      const items = ((await res.json()) as { items: { at: number }[] }).items;
      return items[0]?.at;
    }, 30_000, 'the first long poll');
    const readyMs = Math.max(firstPoll, started) - started;
    await new Promise((r) => setTimeout(r, 1500));
    const idleRssMiB = rssMiB(child.pid ?? 0, 'VmRSS');
    const peers = await Promise.all(
      photos.map(async (p, i) => {
        const res = await fetch(`${url}/sandbox/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ from_id: 100001 + i, text: 'подать заявку', photos: [p.toString('base64')] }),
        });
        return ((await res.json()) as { peer_id: number }).peer_id;
      }),
    );
    for (const peer of peers) {
      await waitFor(async () => {
        const res = await fetch(`${url}/sandbox/messages?peer_id=${peer}`);
        const items = ((await res.json()) as { items: { text: string }[] }).items;
        return items.some((m) => m.text.startsWith('Мы проанализировали')) ? true : undefined;
      }, 120_000, 'results');
    }
    const busyPeakRssMiB = rssMiB(child.pid ?? 0, 'VmHWM');
    return { readyMs, idleRssMiB, busyPeakRssMiB };
  } finally {
    child.kill('SIGKILL');
  }
}

export function variants(binary: string): Variant[] {
  const bun = join(ROOT, 'node_modules/.bin/bun');
  return [
    { name: 'binary', cmd: binary, args: [] },
    { name: 'bun src/main.ts', cmd: bun, args: [join(ROOT, 'src/main.ts')], cwd: ROOT },
    { name: 'node (tsx) src/main.ts', cmd: 'node', args: ['--import', 'tsx', join(ROOT, 'src/main.ts')], cwd: ROOT },
  ];
}

export function buildBinary(): { path: string; sizeMiB: number } {
  const path = join(mkdtempSync(join(tmpdir(), 'zakadrom-bench-bin-')), 'zakadrom');
  const r = spawnSync(join(ROOT, 'node_modules/.bin/bun'), ['run', join(ROOT, 'build.ts'), '--outfile', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`);
  return { path, sizeMiB: statSync(path).size / 1024 / 1024 };
}

/** Rounds interleave the variants, so a noisy moment on the machine hits all of them alike. */
export async function measureStartup(rounds: number, binary: string): Promise<StartupFigures[]> {
  const phones = existsSync(SHARED) ? ['phone_iphone_hdr_NO.jpg', 'phone_jolla.jpg'].map((f) => readFileSync(join(SHARED, f))) : [];
  if (phones.length === 0) throw new Error(`the 8 MP photos are in ${SHARED}; it is missing`);
  const photos = [...phones, ...phones, ...phones, ...phones];
  const list = variants(binary);
  const figures = list.map((v) => ({ variant: v.name, readyMs: [] as number[], idleRssMiB: [] as number[], busyPeakRssMiB: [] as number[] }));
  for (let round = 0; round < rounds; round += 1) {
    for (const [i, v] of list.entries()) {
      const r = await oneRound(v, photos);
      const f = figures[i];
      if (!f) continue;
      f.readyMs.push(r.readyMs);
      f.idleRssMiB.push(r.idleRssMiB);
      f.busyPeakRssMiB.push(r.busyPeakRssMiB);
    }
  }
  return figures;
}
