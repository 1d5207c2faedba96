/** Graceful shutdown: wait for a signal, then dispose within a bound. */

/** Resolves on the first SIGINT or SIGTERM. */
export function shutdownSignal(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    const handlers = signals.map((signal) => {
      const handler = () => {
        for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
        resolve(signal);
      };
      Deno.addSignalListener(signal, handler);
      return [signal, handler] as const;
    });
  });
}

/**
 * Runs `work` but gives up after `timeoutMs`, so that one stuck resource
 * cannot hold the process open forever. Returns false on time-out.
 */
export async function withinMs(timeoutMs: number, work: () => Promise<unknown>): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([work().then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A stack of resources closed in reverse order of registration, each
 * within the remaining part of one overall bound.
 */
export class ShutdownStack implements AsyncDisposable {
  #items: { name: string; close: () => Promise<unknown> | unknown }[] = [];
  #timeoutMs: number;
  #onError: (name: string, error: unknown) => void;

  constructor(options: { timeoutMs?: number; onError?: (name: string, error: unknown) => void } = {}) {
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#onError = options.onError ?? (() => {});
  }

  /** Registers `resource` to be closed; returns it for chaining. */
  use<T extends AsyncDisposable | Disposable>(name: string, resource: T): T {
    this.#items.push({
      name,
      close: () =>
        Symbol.asyncDispose in resource
          ? (resource as AsyncDisposable)[Symbol.asyncDispose]()
          : (resource as Disposable)[Symbol.dispose](),
    });
    return resource;
  }

  defer(name: string, close: () => Promise<unknown> | unknown): void {
    this.#items.push({ name, close });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const deadline = Date.now() + this.#timeoutMs;
    while (this.#items.length > 0) {
      const item = this.#items.pop()!;
      const remaining = Math.max(1, deadline - Date.now());
      try {
        const finished = await withinMs(remaining, async () => await item.close());
        if (!finished) this.#onError(item.name, new Error(`Cannot close ${item.name} as it took over ${remaining} ms`));
      } catch (error) {
        this.#onError(item.name, error);
      }
    }
  }
}
