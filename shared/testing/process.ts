/**
 * Starts a SecurePay program as a child process, exactly as an operator
 * would (its main.ts with environment variables), and waits until its admin
 * port reports ready. Used by component and end-to-end tests that need a
 * real neighbour service rather than a stand-in.
 */

export interface ProgramHandle extends AsyncDisposable {
  readonly name: string;
  readonly child: Deno.ChildProcess;
  /** Everything the program wrote so far, for failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number>;
}

export interface SpawnProgramOptions {
  /** Path of the program's main.ts, relative to the repository root. */
  main: string;
  env: Record<string, string>;
  /** Admin port to poll for /readyz; undefined skips the wait. */
  adminPort?: number;
  /** Bound on the wait for readiness. */
  readyTimeoutMs?: number;
}

const repoRoot = new URL("../../", import.meta.url);
const MAX_OUTPUT_CHARS = 200_000;

/** Asks the OS for a free TCP port on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

export async function spawnProgram(name: string, options: SpawnProgramOptions): Promise<ProgramHandle> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", options.main],
    cwd: repoRoot,
    // A component test runs one program without a Workload API, so it asks
    // for plaintext gRPC on the loopback unless it brings an identity.
    env: {
      NO_COLOR: "1",
      ...(options.env.SPIFFE_ENDPOINT_SOCKET ? {} : { GRPC_INSECURE_LOOPBACK: "true" }),
      ...options.env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      output = (output + chunk).slice(-MAX_OUTPUT_CHARS);
    }
  };
  const drained = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let exited: number | undefined;
  const status = child.status.then((s) => {
    exited = s.code;
    return s.code;
  });

  const stop = async (graceMs = 5_000) => {
    if (exited === undefined) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }, graceMs);
      await status;
      clearTimeout(timer);
    }
    await drained;
    return exited ?? -1;
  };
  const handle: ProgramHandle = {
    name,
    child,
    output: () => output,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };

  if (options.adminPort !== undefined) {
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    while (true) {
      if (exited !== undefined) {
        await drained;
        throw new Error(`Cannot start ${name} as it exited with ${exited}:\n${output}`);
      }
      try {
        const res = await fetch(`http://127.0.0.1:${options.adminPort}/readyz`);
        await res.body?.cancel();
        if (res.status === 200) break;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(
          `Cannot start ${name} as it was not ready within ${options.readyTimeoutMs ?? 30_000} ms:\n${output}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return handle;
}
