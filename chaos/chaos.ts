// The chaos run: many applications through a separately running sandbox while the bot is killed
// with SIGKILL at random moments and faults are injected throughout; then it checks, from the
// user's view and from the database, that every application was answered exactly once.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ChaosOptions {
  applications: number;
  kills: number;
  /** How to run zakadrom: [cmd, ...args]. */
  command: string[];
  photosDir: string;
  /** Mean pause between applications, so that sending spans the kills (default 150 ms). */
  paceMs?: number;
  log?: (line: string) => void;
}

export interface ChaosReport {
  kills: number;
  applications: number;
  photos: number;
  faults: number;
  jobRetries: number;
  sendRetries: number;
  repeatsAbsorbedByRandomId: number;
  trapHits: number;
  violations: string[];
}

interface Message {
  out: number;
  text: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(command: string[], argv: string[], env: Record<string, string>): { proc: ChildProcess; output: () => string } {
  const [cmd, ...args] = command;
  const proc = spawn(cmd ?? '', [...args, ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
  proc.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
  return { proc, output: () => out };
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'zakadrom-chaos-'));
  const db = join(dir, 'chaos.db');
  const photos = ['gps_DSCN0010.jpg', 'cam_Nikon_D70.jpg', 'cam_Canon_PowerShot_S40.jpg', 'phone_jolla.jpg', 'orient_Landscape_3.jpg'].map((f) =>
    readFileSync(join(o.photosDir, f)).toString('base64'),
  );

  // A host outside the allow-list, on loopback: any request reaching it is a violation.
  let trapHits = 0;
  const trap: Server = createServer((_req, res) => {
    trapHits += 1;
    res.end('trap');
  });
  await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
  const trapUrl = `http://127.0.0.1:${(trap.address() as { port: number }).port}/photo.jpg`;

  const emulator = start(o.command, ['sandbox', '--port', '0'], {});
  await waitFor(() => /sandbox: (http:\/\/\S+)/.test(emulator.output()), 30_000, 'the sandbox');
  const base = /sandbox: (http:\/\/\S+)/.exec(emulator.output())?.[1] ?? '';
  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(base + path, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    return (await res.json()) as T;
  };

  const env = {
    VK_TOKEN: 'chaos-token',
    VK_GROUP_ID: '1',
    VK_API_URL: `${base}/method`,
    ZAKADROM_DB: db,
    ZAKADROM_LOG_FORMAT: 'json',
    ZAKADROM_WORKERS: '2',
    ZAKADROM_RETRY_BASE_MS: '100',
    ZAKADROM_RETRY_CAP_MS: '2000',
    ZAKADROM_FLOOD_BACKOFF_MS: '1500',
    ZAKADROM_JOB_ATTEMPTS: '8',
    ZAKADROM_DOWNLOAD_TIMEOUT_MS: '2000',
    ZAKADROM_API_TIMEOUT_MS: '2000',
    ZAKADROM_PER_USER_HOURLY: '100000',
  };

  const FAULTS: Record<string, unknown>[] = [
    { method: 'messages.send', error_code: 6 },
    { method: 'messages.send', error_code: 9 },
    { method: 'messages.send', error_code: 10 },
    { method: 'messages.send', http_status: 502 },
    { method: 'messages.send', delay_ms: 3000 },
    { longpoll: { failed: 1 } },
    { longpoll: { failed: 2 } },
    { longpoll: { failed: 3 } },
    { longpoll: { http_status: 500 } },
    { longpoll: { hang: true } },
    { photo: { stall: true } },
    { photo: { html: true } },
    { photo: { http_status: 404 } },
    { photo: { redirect: trapUrl } },
    { photo: { endless: true } },
  ];

  let bot = start(o.command, ['run'], env);
  let kills = 0;
  let faults = 0;
  const peers: number[] = [];
  let photoCount = 0;
  let sending = true;

  const producer = (async () => {
    for (let i = 0; i < o.applications; i += 1) {
      const n = 1 + (i % 3);
      const body = { from_id: 5_000_000 + i, text: 'подать заявку', photos: Array.from({ length: n }, (_, k) => photos[(i + k) % photos.length]) };
      const r = await api<{ peer_id: number }>('POST', '/sandbox/messages', body);
      peers.push(r.peer_id);
      photoCount += n;
      await sleep((o.paceMs ?? 150) * (0.5 + Math.random()));
    }
    sending = false;
  })();

  const injector = (async () => {
    while (sending || kills < o.kills) {
      const fault = FAULTS[Math.floor(Math.random() * FAULTS.length)];
      await api('POST', '/sandbox/faults', { ...fault, count: 1 + Math.floor(Math.random() * 2) });
      faults += 1;
      await sleep(150 + Math.random() * 300);
    }
  })();

  const killer = (async () => {
    while (kills < o.kills) {
      // Mostly while it works (after it is ready), sometimes in the middle of its start.
      if (Math.random() < 0.8) {
        const current = bot;
        await waitFor(() => current.output().includes('bot ready') || current.proc.exitCode !== null, 30_000, 'bot ready').catch(() => {});
      }
      await sleep(100 + Math.random() * 700);
      bot.proc.kill('SIGKILL');
      await new Promise((r) => bot.proc.once('exit', r));
      kills += 1;
      if (kills % 10 === 0) log(`${kills} kills, ${peers.length} applications sent`);
      // Sometimes users keep writing for a while before the bot is back.
      if (Math.random() < 0.3) await sleep(Math.random() * 500);
      bot = start(o.command, ['run'], env);
    }
  })();

  await Promise.all([producer, injector, killer]);
  await api('DELETE', '/sandbox/faults');
  log(`load done: ${kills} kills, ${peers.length} applications; waiting for every answer`);

  const violations: string[] = [];
  try {
    await waitFor(
      async () => {
        for (const peer of peers) {
          const { items } = await api<{ items: Message[] }>('GET', `/sandbox/messages?peer_id=${peer}`);
          if (!items.some((m) => m.out === 1 && m.text.startsWith('Мы проанализировали'))) return false;
        }
        return true;
      },
      300_000,
      'every result',
    );
  } catch (error) {
    violations.push(String(error));
  }
  await sleep(3000); // let any stray repeat arrive before counting
  for (const peer of peers) {
    const { items } = await api<{ items: Message[] }>('GET', `/sandbox/messages?peer_id=${peer}`);
    const bot = items.filter((m) => m.out === 1);
    const acks = bot.filter((m) => m.text.startsWith('Заявка принята!')).length;
    const results = bot.filter((m) => m.text.startsWith('Мы проанализировали')).length;
    if (acks !== 1 || results !== 1 || bot.length !== 2) {
      violations.push(`peer ${peer}: ${acks} acknowledgement(s), ${results} result(s), ${bot.length} bot message(s)`);
    }
  }
  const calls = (await api<{ items: { method: string; params: Record<string, string> }[] }>('GET', '/sandbox/calls?method=messages.send')).items;
  const seen = new Set<string>();
  let repeats = 0;
  for (const c of calls) {
    const key = `${c.params.peer_id}:${c.params.random_id}`;
    if (seen.has(key)) repeats += 1;
    seen.add(key);
  }
  bot.proc.kill('SIGTERM');
  await new Promise((r) => bot.proc.once('exit', r));
  emulator.proc.kill('SIGTERM');
  trap.close();

  const q = (sql: string) => spawnSync('sqlite3', [db, sql], { encoding: 'utf8' }).stdout.trim();
  const n = (sql: string) => Number(q(sql) || 'NaN');
  if (n('SELECT COUNT(*) FROM applications') !== peers.length) violations.push(`applications in the database: ${q('SELECT COUNT(*) FROM applications')}, sent ${peers.length}`);
  if (n(`SELECT COUNT(*) FROM applications WHERE state <> 'analysed'`) !== 0) violations.push('applications not analysed');
  if (n(`SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')`) !== 0) violations.push('jobs stuck in the queue');
  if (n(`SELECT COUNT(*) FROM outbox WHERE state = 'pending'`) !== 0) violations.push('messages still pending');
  if (trapHits > 0) violations.push(`${trapHits} request(s) reached a host outside the allow-list`);

  return {
    kills,
    applications: peers.length,
    photos: photoCount,
    faults,
    jobRetries: n('SELECT COALESCE(SUM(attempts - 1), 0) FROM jobs WHERE attempts > 1'),
    sendRetries: n('SELECT COALESCE(SUM(attempts - 1), 0) FROM outbox WHERE attempts > 1'),
    repeatsAbsorbedByRandomId: repeats,
    trapHits,
    violations,
  };
}
