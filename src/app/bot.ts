// The running bot: intake from VK, the job runner, and the outbox sender, started together and
// stopped in order (intake first, then jobs, then what the outbox can still send).
import type { AnalysisOptions } from '../analysis/types.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { getState, setState } from '../db/bot-state.ts';
import type { Database } from '../db/driver.ts';
import type { Logger } from '../log.ts';
import { RateLimiter } from '../outbox/rate-limit.ts';
import { OutboxSender } from '../outbox/sender.ts';
import { recoverLeases } from '../queue/jobs.ts';
import { JobRunner } from '../queue/runner.ts';
import type { VkClient } from '../vk/client.ts';
import type { HostAllowList } from '../vk/download.ts';
import { MalformedMessageError, parseIncoming, type IncomingMessage, type RawMessage } from '../vk/incoming.ts';
import type { LongPollUpdate } from '../vk/longpoll.ts';
import { startPollingPatiently } from '../vk/start.ts';
import { ANALYSE_PHOTO, takeMessage, type IntakeSettings } from './intake.ts';
import { createPhotoJobHandler, type Analyser } from './photo-job.ts';
import type { Texts } from './texts.ts';

export interface BotDeps {
  config: Config;
  db: Database;
  clock: Clock;
  log: Logger;
  random: () => number;
  vk: VkClient;
  analyser: Analyser;
  texts: Texts;
  allow: HostAllowList;
  /** See IntakeSettings.scope. */
  scope: string;
}

export interface Bot {
  /** Stops intake, lets jobs finish until the deadline, flushes the outbox, then returns. */
  stop(deadlineMs: number): Promise<void>;
  runner: JobRunner;
  sender: OutboxSender;
}

export function analysisOptions(config: Config): AnalysisOptions {
  return {
    maxPixels: Math.round(config.maxMegapixels * 1_000_000),
    minSide: config.minSide,
    darkMean: config.darkMean,
    brightClipShare: config.brightClipShare,
    blurVariance: config.blurVariance,
    minMegapixels: config.minMegapixels,
  };
}

export async function startBot(deps: BotDeps): Promise<Bot> {
  const { config, db, clock, log, random } = deps;
  const backoff = { baseMs: config.retryBaseMs, capMs: config.retryCapMs };

  const sender = new OutboxSender(
    { db, clock, log, random, transport: deps.vk.transport, limiter: new RateLimiter(config.sendRate, clock) },
    {
      concurrency: Math.min(8, config.sendRate),
      pollMs: 1000,
      shortBackoff: backoff,
      longBackoff: { baseMs: config.floodBackoffMs, capMs: Math.max(config.floodBackoffMs, config.retryCapMs) },
      maxAttempts: config.sendAttempts,
    },
  );

  const photoJob = createPhotoJobHandler({
    db,
    analyser: deps.analyser,
    texts: deps.texts,
    random,
    onResultQueued: () => sender.notify(),
    settings: {
      download: { timeoutMs: config.downloadTimeoutMs, maxBytes: Math.round(config.maxDownloadMb * 1024 * 1024), maxRedirects: 3 },
      allow: deps.allow,
      analysis: analysisOptions(config),
      thresholds: config,
      report: { maxMegapixels: config.maxMegapixels, maxDownloadMb: config.maxDownloadMb, minSide: config.minSide },
      duplicateDistance: config.duplicateDistance,
      textLimit: config.textLimit,
    },
  });

  const runner = new JobRunner(
    { db, clock, log, random, handlers: { [ANALYSE_PHOTO]: photoJob } },
    {
      // Downloads overlap with analysis, so keep a few more jobs in flight than workers.
      concurrency: config.workers * 2,
      leaseMs: Math.max(config.analysisTimeoutMs + config.downloadTimeoutMs, 30_000),
      pollMs: 1000,
      backoff,
    },
  );

  // This process owns the database (one bot per file), so no lease from before is alive.
  const recovered = recoverLeases(db, clock.now(), true);
  if (recovered > 0) log.info('jobs of a stopped run put back in the queue', { jobs: recovered });

  const intake: IntakeSettings = {
    scope: deps.scope,
    trigger: config.trigger,
    hints: config.hints,
    maxPhotos: config.maxPhotos,
    jobAttempts: config.jobAttempts,
    textLimit: config.textLimit,
    perUserHourly: config.perUserHourly,
  };
  let accepting = true;

  /**
   * One long-poll update. Returns once it is committed (or deliberately skipped); throws when it
   * could not be recorded, so the long poll keeps its position and fetches it again.
   */
  async function onUpdate(update: LongPollUpdate): Promise<void> {
    if (!accepting) throw new Error('shutting down: the update is left for the next start');
    if (update.type !== 'message_new') return;
    const raw = (update.object?.message ?? {}) as RawMessage;
    let incoming: IncomingMessage;
    try {
      incoming = parseIncoming(await completeMessage(raw), clock.now());
    } catch (error) {
      if (error instanceof MalformedMessageError) {
        log.warn('update without a usable message skipped', { event: update.event_id, error });
        return;
      }
      throw error;
    }
    recordMessage(incoming, update.event_id ?? null);
  }

  /** Long poll may leave attachments out of a big message (is_cropped): fetch it whole. */
  async function completeMessage(raw: RawMessage): Promise<RawMessage> {
    let message = raw;
    if (raw.is_cropped && typeof raw.peer_id === 'number' && typeof raw.conversation_message_id === 'number') {
      try {
        message = (await deps.vk.fetchMessage(raw.peer_id, raw.conversation_message_id)) ?? raw;
      } catch (error) {
        log.warn('could not load a cropped message in full; using what the event carried', { error });
      }
    }
    return message;
  }

  /** A busy or full database throws here; the long poll then fetches the update again. */
  function recordMessage(incoming: IncomingMessage, eventId: string | null): void {
    const result = takeMessage(db, incoming, eventId, intake, deps.texts, clock.now(), random);
    if (result.kind === 'application') {
      runner.notify();
      log.info('application received', {
        application: result.applicationId,
        peer: incoming.peerId,
        from: incoming.fromId,
        photos: result.photos,
      });
    } else if (result.kind === 'duplicate') {
      log.info('repeated message ignored', { peer: incoming.peerId, cmid: incoming.conversationMessageId });
    }
    if (result.kind !== 'ignored' && result.kind !== 'duplicate') sender.notify();
  }

  sender.start();
  runner.start();
  const positionKey = `longpoll_ts:${deps.scope}`;
  await startPollingPatiently(
    deps.vk,
    {
      onUpdate,
      loadPosition: () => {
        const saved = getState(db, positionKey);
        return saved ? { ts: saved.value, at: saved.at } : undefined;
      },
      installedAt: db.prepare('SELECT MIN(applied_at) AS at FROM schema_migrations').get<{ at: number }>()?.at ?? clock.now(),
      onGap: async (sinceMs) => {
        // A minute of slack: message dates are whole seconds and clocks differ a little.
        const messages = await deps.vk.unansweredSince(sinceMs - 60_000);
        const fields = { since: new Date(sinceMs).toISOString(), found: messages.length };
        if (messages.length > 0) log.warn('catching up on messages the long poll lost', fields);
        else log.debug('looked for messages the long poll may have lost; none', fields);
        for (const raw of messages) await onUpdate({ type: 'message_new', object: { message: raw } });
      },
      savePosition: (ts) => setState(db, positionKey, ts, clock.now()),
      clock,
      log,
    },
    log,
    clock,
  );

  return {
    runner,
    sender,
    async stop(deadlineMs) {
      accepting = false;
      await deps.vk.stopPolling();
      const until = clock.now() + deadlineMs;
      await runner.stop(Math.max(until - clock.now(), 0));
      await sender.stop(Math.max(until - clock.now(), 0));
      deps.vk.close();
    },
  };
}
