// The analyse_photo job: download, analyse in a worker, then in the completing transaction
// store the findings and, when the application's last photo is done, queue the result.
import { isPhotoFailureReason, type AnalysisOptions, type AnalysisOutcome, type PhotoFailureReason, type RetakeReason } from '../analysis/types.ts';
import { phashDistance } from '../analysis/metrics.ts';
import {
  earlierHashes,
  getApplication,
  getPhoto,
  markAnalysed,
  photosOfApplication,
  storeAnalysed,
  storeFailed,
  waitingPhotoCount,
} from '../db/applications.ts';
import type { Database } from '../db/driver.ts';
import { queueMessage } from '../outbox/store.ts';
import type { Job } from '../queue/jobs.ts';
import type { JobFailure, JobHandler } from '../queue/runner.ts';
import { DownloadError, downloadPhoto, type DownloadLimits, type HostAllowList } from '../vk/download.ts';
import { composeResult, judge, type PhotoFinding, type ReportLimits, type VerdictThresholds } from './report.ts';
import type { Texts } from './texts.ts';

export interface Analyser {
  analyse(bytes: Uint8Array, options: AnalysisOptions): Promise<AnalysisOutcome>;
}

export interface PhotoJobDeps {
  db: Database;
  analyser: Analyser;
  texts: Texts;
  random: () => number;
  /** Called after a result message is committed, to wake the sender. */
  onResultQueued: () => void;
  settings: {
    download: DownloadLimits;
    allow: HostAllowList;
    analysis: AnalysisOptions;
    thresholds: VerdictThresholds;
    report: ReportLimits;
    duplicateDistance: number;
    textLimit: number;
  };
}

/** A failure with the reason the user will be told; `retryable` decides whether to try again. */
export class PhotoJobError extends Error {
  constructor(
    readonly code: PhotoFailureReason,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'PhotoJobError';
  }
}


function findingOf(row: ReturnType<typeof photosOfApplication>[number]): PhotoFinding {
  if (row.state === 'analysed' && row.metrics_json) {
    return {
      state: 'analysed',
      metrics: JSON.parse(row.metrics_json),
      reasons: (row.reasons ?? '').split(',').filter(Boolean) as RetakeReason[],
    };
  }
  return { state: 'failed', reason: row.failure_reason ?? 'worker_crashed', format: row.format };
}

export function createPhotoJobHandler(deps: PhotoJobDeps): JobHandler {
  const { db, settings } = deps;

  /** Inside the caller's transaction: the result goes out once, when no photo waits any more. */
  function finishApplicationIfDone(applicationId: number, now: number): void {
    if (waitingPhotoCount(db, applicationId) > 0) return;
    const app = getApplication(db, applicationId);
    if (!app || !markAnalysed(db, applicationId, now)) return;
    const text = composeResult(photosOfApplication(db, applicationId).map(findingOf), deps.texts, settings.report, app.photos_received);
    queueMessage(db, { peerId: app.peer_id, message: text, purpose: 'result', applicationId }, settings.textLimit, now, deps.random);
    deps.onResultQueued();
  }

  function photoIdOf(job: Job): number {
    const { photoId } = JSON.parse(job.payload) as { photoId?: unknown };
    if (typeof photoId !== 'number') throw new PhotoJobError('worker_crashed', `job ${job.id} has no photoId`, false);
    return photoId;
  }

  return {
    async run(job, signal) {
      const photo = getPhoto(db, photoIdOf(job));
      if (!photo || photo.state !== 'waiting') return () => {}; // stored by an earlier run already
      let bytes: Uint8Array;
      try {
        bytes = await downloadPhoto(photo.url, settings.download, settings.allow, signal);
      } catch (error) {
        if (error instanceof DownloadError) {
          throw new PhotoJobError(error.kind === 'too_large' ? 'too_large' : 'download_failed', error.message, error.retryable);
        }
        throw error;
      }
      let outcome: AnalysisOutcome;
      try {
        outcome = await deps.analyser.analyse(bytes, settings.analysis);
      } catch (error) {
        // The pool closed under us (shutting down): not the photo's fault, try again later.
        throw new PhotoJobError('worker_crashed', error instanceof Error ? error.message : String(error), true);
      }
      if (!outcome.ok && outcome.reason === 'worker_crashed') {
        // The worker died or hung: maybe this photo, maybe bad luck; the attempt limit decides.
        throw new PhotoJobError('worker_crashed', outcome.detail, true);
      }
      return (now) => {
        if (!outcome.ok) {
          storeFailed(db, photo.id, outcome, now);
        } else {
          const m = outcome.metrics;
          const duplicateOf =
            m.phash === null
              ? null
              : (earlierHashes(db, photo.application_id).find((h) => phashDistance(h.phash, m.phash as string) <= settings.duplicateDistance)
                  ?.id ?? null);
          const verdict = judge(m, settings.thresholds, duplicateOf !== null);
          storeAnalysed(db, photo.id, m, { ...verdict, duplicateOf }, now);
        }
        finishApplicationIfDone(photo.application_id, now);
      };
    },

    giveUp(job: Job, failure: JobFailure, now: number) {
      const photo = getPhoto(db, photoIdOf(job));
      if (!photo || photo.state !== 'waiting') return;
      const reason: PhotoFailureReason = isPhotoFailureReason(failure.code) ? failure.code : 'worker_crashed';
      storeFailed(db, photo.id, { reason, detail: failure.message }, now);
      finishApplicationIfDone(photo.application_id, now);
    },
  };
}
