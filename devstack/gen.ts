/**
 * `deno task gen`: regenerates the typed protobuf messages and gRPC stubs in
 * shared/gen/ from proto/ with buf and ts-proto (both from npm).
 * `deno task gen --check` generates into a temporary folder and fails when
 * shared/gen/ differs, which CI uses to catch stale generated code.
 */

import { dirname } from "node:path";

const root = new URL("../", import.meta.url);
const genDir = new URL("shared/gen/", root);

async function generate(outDir: string): Promise<void> {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", "npm:@bufbuild/buf@1.75.0", "generate", "--output", outDir],
    cwd: root,
    // buf.gen.yaml runs the ts-proto plugin with `deno`; make sure that is this
    // very binary even when it came from `npx deno` and is not on PATH.
    env: { NO_COLOR: "1", PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}` },
    stdout: "inherit",
    stderr: "inherit",
  });
  const { code } = await command.output();
  if (code !== 0) throw new Error(`Cannot generate code as buf exited with ${code}`);
}

async function listFiles(dir: URL, prefix = ""): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for await (const entry of Deno.readDir(dir)) {
    const rel = `${prefix}${entry.name}`;
    if (entry.isDirectory) {
      for (const [k, v] of await listFiles(new URL(`${entry.name}/`, dir), `${rel}/`)) files.set(k, v);
    } else {
      files.set(rel, await Deno.readTextFile(new URL(entry.name, dir)));
    }
  }
  return files;
}

if (import.meta.main) {
  if (Deno.args.includes("--check")) {
    const tmp = await Deno.makeTempDir({ prefix: "securepay-gen-" });
    try {
      await generate(tmp);
      const fresh = await listFiles(new URL(`file://${tmp}/shared/gen/`));
      const committed = await listFiles(genDir).catch(() => new Map<string, string>());
      const stale = [...new Set([...fresh.keys(), ...committed.keys()])]
        .filter((f) => fresh.get(f) !== committed.get(f)).sort();
      if (stale.length > 0) {
        console.error(`shared/gen is out of date with proto/ (run \`deno task gen\`): ${stale.join(", ")}`);
        Deno.exit(1);
      }
      console.log("shared/gen is up to date");
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  } else {
    await generate(".");
    console.log("generated shared/gen from proto/");
  }
}
