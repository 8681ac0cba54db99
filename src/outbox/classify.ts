// What the sender does after a failed messages.send, decided by VK's error code alone.

export type SendDecision =
  | { action: 'retry'; backoff: 'short' | 'long' }
  | { action: 'undeliverable' }
  | { action: 'split' }
  | { action: 'fail' };

/** A messages.send failure as the sender sees it: a VK error code, or none for transport trouble. */
export interface SendFailure {
  vkCode: number | null;
  message: string;
}

// VK's codes for "this user or chat cannot receive messages from the community".
const UNDELIVERABLE = new Set([7, 900, 901, 902, 917, 945, 983]);
// Temporary trouble on VK's side or ours: try again soon with the same random_id.
const SHORT_RETRY = new Set([1, 6, 10, 603]);

export function classifySendFailure(failure: SendFailure): SendDecision {
  const code = failure.vkCode;
  // No code: network error, timeout, HTTP 5xx or a reply that was not JSON. VK may have
  // performed the call anyway; the stored random_id makes the retry harmless.
  if (code === null) return { action: 'retry', backoff: 'short' };
  if (SHORT_RETRY.has(code)) return { action: 'retry', backoff: 'short' };
  // 9: flood control (too many messages of the same kind); waiting minutes is what helps.
  // 5: the token was revoked or is wrong; keep the message until an admin fixes the token.
  if (code === 9 || code === 5) return { action: 'retry', backoff: 'long' };
  if (code === 914) return { action: 'split' };
  if (UNDELIVERABLE.has(code)) return { action: 'undeliverable' };
  return { action: 'fail' };
}
