import assert from "node:assert/strict";

Deno.test("shared/gen is what `deno task gen` produces from proto/", async () => {
  // Regenerates into a temporary folder and compares byte for byte.
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "devstack/gen.ts", "--check"],
    cwd: new URL("../", import.meta.url),
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
});
