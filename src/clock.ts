// Time as a dependency, so tests can move it and loops can be woken without real waiting.

export interface Clock {
  now(): number;
  /** Runs fn after ms; returns a function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
  sleep(ms: number): Promise<void>;
}

export function systemClock(): Clock {
  return {
    now: () => Date.now(),
    setTimer(fn, ms) {
      const handle = setTimeout(fn, ms);
      return () => clearTimeout(handle);
    },
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}
