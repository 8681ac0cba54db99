// Capped exponential back-off with jitter, shared by the job queue and the outbox.

export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/**
 * Delay before attempt `attempt + 1`, after `attempt` failures (1-based).
 * "Equal jitter": half the exponential step is kept so retries never bunch at zero,
 * the other half is random so many failures at once do not retry in lockstep.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const step = Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
  return Math.round(step / 2 + random() * (step / 2));
}
