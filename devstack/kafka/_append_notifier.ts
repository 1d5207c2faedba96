/**
 * Wakes long-polling Fetch requests when a partition they wait on grows.
 * Every wait has a deadline, and closing the notifier releases all waits.
 */

export class AppendNotifier {
  #waiters = new Map<string, Set<() => void>>();
  #closed = false;

  static key(topic: string, partition: number): string {
    return `${topic}\u0000${partition}`;
  }

  /** Resolves on the first append to any of `keys`, after `timeoutMs`, or on close. */
  wait(keys: readonly string[], timeoutMs: number): Promise<void> {
    if (this.#closed || timeoutMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        for (const key of keys) {
          const set = this.#waiters.get(key);
          set?.delete(wake);
          if (set?.size === 0) this.#waiters.delete(key);
        }
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      for (const key of keys) {
        let set = this.#waiters.get(key);
        if (set === undefined) {
          set = new Set();
          this.#waiters.set(key, set);
        }
        set.add(wake);
      }
    });
  }

  notify(key: string): void {
    const set = this.#waiters.get(key);
    if (set === undefined) return;
    for (const wake of [...set]) wake();
  }

  close(): void {
    this.#closed = true;
    for (const set of [...this.#waiters.values()]) for (const wake of [...set]) wake();
  }
}
