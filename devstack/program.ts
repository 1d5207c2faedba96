/**
 * One supervised program of the dev stack: a `deno run` child process whose
 * output lines are prefixed with its name, whose admin `/readyz` is awaited,
 * and which is stopped with SIGTERM, then SIGKILL after a bound.
 *
 * Under `--watch`, deno restarts the program when its code changes and keeps
 * watching after the program ends (even after a crash or a clean SIGTERM
 * shutdown), so the watcher itself never exits on its own: once it reports
 * that the program finished, stopping it with SIGKILL loses nothing.
 */

import { REPO_ROOT } from "./_paths.ts";

export interface ProgramOptions {
  /** Short name used as the log prefix, e.g. `account`. */
  name: string;
  /** The program's main module, relative to the repository root. */
  main: string;
  /** Directories (relative to the root) whose changes restart it; undefined runs without --watch. */
  watch?: readonly string[];
  env: Record<string, string>;
  /** Admin port whose /readyz is awaited. */
  adminPort: number;
  /** Receives each prefixed output line. */
  output: (line: string) => void;
  /** ANSI colour code for the prefix; undefined prints it plain. */
  color?: number;
  /** Width the name is padded to. */
  nameWidth?: number;
}

export interface Program extends AsyncDisposable {
  readonly name: string;
  readonly pid: number;
  /** Resolves with the exit code when the process ends, for whatever reason. */
  readonly exited: Promise<number>;
  /** The last lines it printed, for error messages. */
  recentOutput(): string;
  /** Polls /readyz until it answers 200; throws on exit, abort or time-out. */
  waitReady(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs: number): Promise<number>;
}

const RECENT_LINES_MAX = 200;
// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

export function spawnSupervised(options: ProgramOptions): Program {
  const args = ["run", "--allow-all"];
  if (options.watch) args.push(`--watch=${options.watch.join(",")}`);
  args.push(options.main);
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO_ROOT,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  const width = options.nameWidth ?? options.name.length;
  const label = options.name.padEnd(width);
  const prefix = options.color === undefined ? `${label} | ` : `\x1b[${options.color}m${label} |\x1b[0m `;
  const recent: string[] = [];
  /** True while deno's watcher waits for a change with the program not running. */
  let idle = false;
  let onIdle: (() => void) | undefined;

  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    const emit = (line: string) => {
      const plain = line.replace(ANSI, "");
      recent.push(plain);
      if (recent.length > RECENT_LINES_MAX) recent.shift();
      if (plain.includes("Restarting on file change")) {
        idle = true;
        onIdle?.();
      } else if (plain.includes("Watcher") && (plain.includes("Restarting!") || plain.includes("started"))) {
        idle = false;
      }
      options.output(prefix + line);
    };
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) emit(line.replace(/\r$/, ""));
    }
    if (rest !== "") emit(rest);
  };
  const drained = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exitCode: number | undefined;
  const exited = child.status.then(async (s) => {
    exitCode = s.code;
    await drained;
    return s.code;
  });

  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  };

  let stopping: Promise<number> | undefined;
  const stop = (graceMs: number) => {
    stopping ??= (async () => {
      if (exitCode !== undefined) return await exited;
      // SIGKILL once the bound passes, or as soon as the watcher reports the
      // program finished (it would wait for file changes forever).
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
        onIdle = resolve;
        if (idle) resolve();
      }).then(() => kill("SIGKILL"));
      kill("SIGTERM");
      await Promise.race([exited, killed]);
      clearTimeout(timer);
      return await exited;
    })();
    return stopping;
  };

  const waitReady = async (timeoutMs: number, signal?: AbortSignal) => {
    const deadline = Date.now() + timeoutMs;
    const url = `http://127.0.0.1:${options.adminPort}/readyz`;
    while (true) {
      signal?.throwIfAborted();
      if (exitCode !== undefined) {
        await drained;
        throw new Error(
          `Cannot start ${options.name} as it exited with code ${exitCode}; its last lines:\n${recentText()}`,
        );
      }
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
        await res.body?.cancel();
        if (res.status === 200) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) {
        throw new Error(
          `Cannot start ${options.name} as ${url} did not answer 200 within ${timeoutMs} ms; its last lines:\n${recentText()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  const recentText = () => recent.slice(-40).join("\n");
  return {
    name: options.name,
    pid: child.pid,
    exited,
    recentOutput: recentText,
    waitReady,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop(10_000);
    },
  };
}
