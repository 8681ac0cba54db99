// A sliding-window limit: never more than `perSecond` starts within any 1000 ms.
import type { Clock } from '../clock.ts';

export class RateLimiter {
  private readonly starts: number[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly perSecond: number,
    private readonly clock: Clock,
  ) {
    if (!(perSecond >= 1)) throw new RangeError('perSecond must be at least 1');
  }

  /** Resolves when one more request may start; callers are served in order. */
  take(): Promise<void> {
    const turn = this.chain.then(() => this.waitForSlot());
    this.chain = turn;
    return turn;
  }

  private async waitForSlot(): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      while (this.starts.length > 0 && now - (this.starts[0] ?? 0) >= 1000) this.starts.shift();
      if (this.starts.length < this.perSecond) {
        this.starts.push(now);
        return;
      }
      await this.clock.sleep(1000 - (now - (this.starts[0] ?? now)));
    }
  }
}
