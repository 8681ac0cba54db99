// Lets a loop sleep until new work is signalled or a fallback timeout passes.

export class Wakeup {
  private pending = false;
  private waiter: (() => void) | undefined;

  /** New work exists: wake the loop now, or make its next wait return at once. */
  notify(): void {
    this.pending = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  /** Resolves on notify() or after timeoutMs, whichever is first. */
  wait(timeoutMs: number, setTimer: (fn: () => void, ms: number) => () => void): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const cancel = setTimer(() => {
        this.waiter = undefined;
        resolve();
      }, timeoutMs);
      this.waiter = () => {
        cancel();
        this.pending = false;
        resolve();
      };
    });
  }
}
