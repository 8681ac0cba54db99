// Judges a photo's metrics (ok / retake, with reasons) and writes the findings message.
import type { PhotoFailureReason, PhotoMetrics, RetakeReason } from '../analysis/types.ts';
import { fill, type Texts } from './texts.ts';

export interface VerdictThresholds {
  darkMean: number;
  brightClipShare: number;
  blurVariance: number;
  minMegapixels: number;
}

export interface Verdict {
  verdict: 'ok' | 'retake';
  reasons: RetakeReason[];
}

export function judge(m: PhotoMetrics, t: VerdictThresholds, isDuplicate: boolean): Verdict {
  const reasons: RetakeReason[] = [];
  if (m.meanLuma < t.darkMean) reasons.push('too_dark');
  if (m.brightClipShare > t.brightClipShare) reasons.push('overexposed');
  // A flat image has no edges at all; that is not blur, and the too_small/dark checks cover it.
  if (m.sharpness < t.blurVariance && m.phash !== null) reasons.push('blurry');
  if (m.megapixels < t.minMegapixels) reasons.push('low_resolution');
  if (isDuplicate) reasons.push('duplicate');
  return { verdict: reasons.length === 0 ? 'ok' : 'retake', reasons };
}

/** What the report needs of one photo, as stored. */
export type PhotoFinding =
  | { state: 'analysed'; metrics: PhotoMetrics; reasons: RetakeReason[] }
  | { state: 'failed'; reason: PhotoFailureReason; format: string | null };

export interface ReportLimits {
  maxMegapixels: number;
  maxDownloadMb: number;
  minSide: number;
}

function number(n: number, digits: number): string {
  return n.toFixed(digits).replace('.', ',');
}

/** Two decimals under 1 MP, so a 0,27 MP photo is not shown as the 0,3 MP it falls below. */
function megapixels(mp: number): string {
  return number(mp, mp < 1 ? 2 : 1);
}

/** EXIF writes "2008:10:22 16:28:39" (the parser gives ISO); people read "22.10.2008 16:28". */
function takenAt(iso: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?/.exec(iso);
  if (!m) return iso;
  return `${m[3]}.${m[2]}.${m[1]}${m[4] ? ` ${m[4]}:${m[5]}` : ''}`;
}

function megabytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${number(bytes / 1024 / 1024, 1)} МБ` : `${Math.max(1, Math.round(bytes / 1024))} КБ`;
}

function describe(f: PhotoFinding, texts: Texts, limits: ReportLimits): string {
  if (f.state === 'failed') {
    const t = texts.failure[f.reason];
    const values = {
      format: f.format && f.format !== 'unknown' ? f.format.toUpperCase() : texts.unknownFormat,
      maxMegapixels: limits.maxMegapixels,
      maxMegabytes: limits.maxDownloadMb,
      minSide: limits.minSide,
    };
    return fill(texts.failed, { reason: fill(t.reason, values), hint: fill(t.hint, values) });
  }
  const m = f.metrics;
  const facts = [`${m.width}×${m.height} (${megapixels(m.megapixels)} Мп), ${m.format.toUpperCase()}, ${megabytes(m.bytes)}`];
  if (m.frames > 1) facts.push(fill(texts.frames, { frames: m.frames }));
  if (!f.reasons.includes('too_dark') && !f.reasons.includes('overexposed')) facts.push(texts.exposureOk);
  if (!f.reasons.includes('blurry')) facts.push(texts.sharpnessOk);
  if (m.exif.camera) facts.push(fill(texts.camera, { camera: m.exif.camera }));
  if (m.exif.takenAt) facts.push(fill(texts.takenAt, { date: takenAt(m.exif.takenAt) }));
  const lines = [facts.join('; ') + '.'];
  if (m.exif.hasGps) lines.push(texts.gpsWarning);
  lines.push(
    f.reasons.length === 0
      ? texts.verdictOk
      : fill(texts.verdictRetake, { reasons: f.reasons.map((r) => texts.retake[r]).join(', ') }),
  );
  return lines.join('\n');
}

/** `received`: photos the message carried; when more than were analysed, the user is told. */
export function composeResult(findings: PhotoFinding[], texts: Texts, limits: ReportLimits, received = findings.length): string {
  const leftOut = received > findings.length ? `\n\n${fill(texts.leftOut, { analysed: findings.length, received })}` : '';
  if (findings.length === 1 && findings[0]) {
    return `${texts.resultOne}\n${describe(findings[0], texts, limits)}${leftOut}`;
  }
  const blocks = findings.map((f, i) => `${fill(texts.photoLabel, { n: i + 1 })}: ${describe(f, texts, limits)}`);
  return `${fill(texts.resultMany, { count: findings.length })}\n\n${blocks.join('\n\n')}${leftOut}`;
}
