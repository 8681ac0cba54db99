// Starting the long poll: transient trouble is waited out, what only the admin can fix stops
// the start with what to check.
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { PollingOptions, VkClient } from './client.ts';

function isRetryable(error: unknown): boolean {
  return Boolean(error && typeof error === 'object' && 'retryable' in error && error.retryable);
}

/** VK's codes that no retry fixes: a wrong token, missing rights, Long Poll switched off. */
const START_HINTS: Record<number, string> = {
  5: 'VK refused the token: check VK_TOKEN (a community access key, not a user token)',
  15: 'access denied: give the community key the "messages" right and enable community messages',
  27: 'this method needs a community token: VK_TOKEN must be a community access key',
  100: 'VK rejected the parameters: check VK_GROUP_ID, and enable Long Poll API (version 5.199+) in the community settings',
};

export class VkStartError extends Error {
  readonly code = 'vk_start_failed';
  readonly retryable = false;
}

/**
 * Starts the long poll, riding out transient trouble (network, HTTP 5xx, VK errors 6/10) with
 * back-off; fails at once, with what to do, on errors that only the admin can fix.
 */
export async function startPollingPatiently(vk: VkClient, polling: PollingOptions, log: Logger, clock: Clock): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await vk.startPolling(polling);
      return;
    } catch (error) {
      const code = error && typeof error === 'object' && 'vkCode' in error ? (error.vkCode as number | null) : null;
      const message = error instanceof Error ? error.message : String(error);
      if (!isRetryable(error)) {
        const hint = code !== null ? START_HINTS[code] : undefined;
        throw new VkStartError(hint ? `${message}. ${hint}` : message);
      }
      const wait = Math.min(1000 * 2 ** Math.min(attempt - 1, 5), 30_000);
      log.warn('cannot reach VK yet; retrying', { attempt, in_ms: wait, error: message });
      await clock.sleep(wait);
    }
  }
}
