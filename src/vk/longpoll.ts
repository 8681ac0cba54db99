// The Bots Long Poll loop: takes updates in order, hands each to intake, and saves the position
// only after intake has committed them, so updates that arrived while the bot was down, or that
// a crash interrupted, are taken after the restart.
//
// vk-io's own polling transport cannot do this: it keeps the position in memory only, and it
// answers `failed: 2` (only the key expired) by jumping to the newest position, skipping events.
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';

export interface LongPollServer {
  server: string;
  key: string;
  ts: string;
}

export interface LongPollUpdate {
  type?: string;
  event_id?: string;
  object?: { message?: unknown };
}

export interface LongPollDeps {
  /** groups.getLongPollServer through the VK client. */
  getServer(): Promise<LongPollServer>;
  /** Commits one update; throws when it could not (the batch is then fetched again). */
  onUpdate(update: LongPollUpdate): Promise<void>;
  /** The position saved by the last run, if any, and when it was saved (unix ms). */
  loadPosition(): { ts: string; at: number } | undefined;
  /**
   * When this installation began (unix ms): with no saved position yet (a first start, or
   * earlier starts that died before saving one), what users wrote since then is caught up.
   */
  installedAt: number;
  savePosition(ts: string): void;
  /**
   * VK lost events we may not have taken (failed 1 or 3, or a saved position it no longer
   * knows): fetch what users wrote since `sinceMs` by other means. Errors are logged, not fatal.
   */
  onGap?(sinceMs: number): Promise<void>;
  clock: Clock;
  log: Logger;
  /** Seconds VK may hold a poll (VK's maximum is 90; 25 is what its docs advise). */
  waitSeconds?: number;
}

interface PollReply {
  ts?: string | number;
  updates?: LongPollUpdate[];
  failed?: number;
}

export class LongPoll {
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private lastPollAt = 0;

  constructor(private readonly deps: LongPollDeps) {}

  /** Resolves once the server is known and the first poll is on its way. */
  async start(): Promise<void> {
    const server = await this.deps.getServer();
    const saved = this.deps.loadPosition();
    if (saved !== undefined && saved.ts !== String(server.ts)) {
      this.deps.log.info('long poll resumes from the saved position', { saved: saved.ts, newest: String(server.ts) });
    }
    // Saved at once on a first start, so what users write before the first update arrives (or
    // while this run is down) is taken by the next start too.
    if (saved === undefined) this.deps.savePosition(String(server.ts));
    this.loop = this.run(server, saved?.ts ?? String(server.ts), saved?.at ?? this.deps.clock.now(), saved === undefined);
  }

  /** Milliseconds since the last poll was answered or sent (for health checks). */
  sinceLastPoll(now: number): number {
    return now - this.lastPollAt;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort(new Error('stopping'));
    await this.loop?.catch(() => undefined);
  }

  private async run(first: LongPollServer, firstTs: string, takenUntilAtStart: number, firstStart: boolean): Promise<void> {
    const { clock, log } = this.deps;
    let server = first;
    let ts = firstTs;
    let failures = 0;
    // Everything written before this was taken (a position is saved only after its commits).
    let takenUntil = takenUntilAtStart;
    if (firstStart) await this.fillGap(this.deps.installedAt);
    while (!this.stopped) {
      try {
        this.lastPollAt = clock.now();
        const reply = await this.poll(server, ts);
        failures = 0;
        if (reply.failed === 1) {
          // History partly lost (or our position is from another world): continue from VK's.
          log.warn('long poll history lost up to a point; continuing from the position VK gives', { from: ts, to: String(reply.ts) });
          ts = String(reply.ts);
          await this.fillGap(takenUntil);
          this.deps.savePosition(ts);
          continue;
        }
        if (reply.failed === 2) {
          // Only the key expired: a new key, the SAME position, nothing skipped.
          server = { ...(await this.deps.getServer()), ts };
          continue;
        }
        if (reply.failed !== undefined) {
          server = await this.deps.getServer();
          log.warn('long poll information lost; continuing from the newest position', { failed: reply.failed, from: ts, to: server.ts });
          ts = String(server.ts);
          await this.fillGap(takenUntil);
          this.deps.savePosition(ts);
          continue;
        }
        const answeredAt = clock.now();
        for (const update of reply.updates ?? []) await this.deps.onUpdate(update);
        takenUntil = answeredAt;
        if (reply.ts !== undefined && String(reply.ts) !== ts) {
          ts = String(reply.ts);
          this.deps.savePosition(ts);
        }
      } catch (error) {
        if (this.stopped) return;
        failures += 1;
        const wait = Math.min(500 * 2 ** Math.min(failures - 1, 6), 30_000);
        log.warn('long poll failed; retrying from the same position', { attempt: failures, in_ms: wait, error });
        await clock.sleep(wait);
        if (failures % 3 === 0) {
          // Several failures in a row may mean a dead server address: ask VK again.
          try {
            server = { ...(await this.deps.getServer()), ts };
          } catch (refresh) {
            log.warn('could not refresh the long poll server', { error: refresh });
          }
        }
      }
    }
  }

  private async fillGap(sinceMs: number): Promise<void> {
    if (!this.deps.onGap) return;
    try {
      await this.deps.onGap(sinceMs);
    } catch (error) {
      this.deps.log.error('could not look up messages written during the gap', { error });
    }
  }

  private async poll(server: LongPollServer, ts: string): Promise<PollReply> {
    const url = new URL(server.server);
    url.search = new URLSearchParams({ act: 'a_check', key: server.key, ts, wait: String(this.deps.waitSeconds ?? 25) }).toString();
    // VK holds the request up to `wait` seconds; past that plus a margin, the poll hangs.
    const waitMs = (this.deps.waitSeconds ?? 25) * 1000;
    const timeout = AbortSignal.timeout(waitMs + Math.min(10_000, waitMs));
    const response = await fetch(url, { signal: AbortSignal.any([timeout, this.abort.signal]) });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`long poll answered HTTP ${response.status}`);
    }
    return (await response.json()) as PollReply;
  }
}
