import assert from "node:assert/strict";
import { freePort } from "@securepay/shared/testing";
import { spawnSupervised } from "./program.ts";

/** A stand-in program: serves /readyz on ADMIN_PORT, prints, and obeys (or ignores) SIGTERM. */
const SCRIPT = `
const mode = Deno.env.get("MODE");
console.log("hello from stdout");
console.error("hello from stderr");
if (mode === "crash") Deno.exit(3);
const ac = new AbortController();
const server = Deno.serve({ port: Number(Deno.env.get("ADMIN_PORT")), hostname: "127.0.0.1", signal: ac.signal, onListen() {} },
  () => new Response("ok"));
if (mode !== "stubborn") Deno.addSignalListener("SIGTERM", () => { console.log("graceful"); ac.abort(); });
else Deno.addSignalListener("SIGTERM", () => console.log("ignoring SIGTERM"));
await server.finished;
`;

async function withScript(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "securepay-program-" });
  try {
    await Deno.writeTextFile(`${dir}/prog.ts`, SCRIPT);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("spawnSupervised() prefixes every line, waits for /readyz and stops on SIGTERM", async () => {
  await withScript(async (dir) => {
    const lines: string[] = [];
    const adminPort = freePort();
    const program = spawnSupervised({
      name: "demo",
      main: `${dir}/prog.ts`,
      env: { ADMIN_PORT: String(adminPort), NO_COLOR: "1" },
      adminPort,
      output: (l) => lines.push(l),
      nameWidth: 8,
    });
    await program.waitReady(30_000);
    assert.equal(await program.stop(10_000), 0);
    assert.ok(lines.includes("demo     | hello from stdout"), lines.join("\n"));
    assert.ok(lines.includes("demo     | hello from stderr"));
    assert.ok(lines.includes("demo     | graceful"));
  });
});

Deno.test("spawnSupervised().waitReady() reports a program that exits, with its last lines", async () => {
  await withScript(async (dir) => {
    const adminPort = freePort();
    const program = spawnSupervised({
      name: "crashy",
      main: `${dir}/prog.ts`,
      env: { ADMIN_PORT: String(adminPort), MODE: "crash", NO_COLOR: "1" },
      adminPort,
      output: () => {},
    });
    await assert.rejects(
      program.waitReady(30_000),
      /Cannot start crashy as it exited with code 3[^]*hello from stderr/,
    );
    assert.equal(await program.exited, 3);
  });
});

Deno.test("spawnSupervised().stop() kills a program that ignores SIGTERM after the bound", async () => {
  await withScript(async (dir) => {
    const adminPort = freePort();
    const program = spawnSupervised({
      name: "stubborn",
      main: `${dir}/prog.ts`,
      env: { ADMIN_PORT: String(adminPort), MODE: "stubborn", NO_COLOR: "1" },
      adminPort,
      output: () => {},
    });
    await program.waitReady(30_000);
    const started = Date.now();
    const code = await program.stop(500);
    assert.notEqual(code, 0);
    assert.ok(Date.now() - started < 5_000);
    assert.match(program.recentOutput(), /ignoring SIGTERM/);
  });
});

Deno.test("spawnSupervised() under --watch stops as soon as the program finished, not after the bound", async () => {
  await withScript(async (dir) => {
    const adminPort = freePort();
    const program = spawnSupervised({
      name: "watched",
      main: `${dir}/prog.ts`,
      watch: [`${dir}/`],
      env: { ADMIN_PORT: String(adminPort), NO_COLOR: "1" },
      adminPort,
      output: () => {},
    });
    await program.waitReady(30_000);
    const started = Date.now();
    await program.stop(20_000);
    assert.ok(Date.now() - started < 10_000, "the idle watcher was killed without waiting for the bound");
    assert.match(program.recentOutput(), /graceful/);
  });
});
