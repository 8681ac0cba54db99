// Timers the sandbox starts on behalf of requests, so close() can cancel every one of them.

export class TimerSet {
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;

  get isClosed(): boolean {
    return this.closed;
  }

  /** Like setTimeout, but never fires after close(); the returned function cancels it. */
  after(ms: number, fn: () => void): () => void {
    if (this.closed) return () => {};
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(timer);
    return () => {
      clearTimeout(timer);
      this.timers.delete(timer);
    };
  }

  /** Resolves after ms, or never once the sandbox closes (its socket is destroyed anyway). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.after(ms, resolve);
    });
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
