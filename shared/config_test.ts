import assert from "node:assert/strict";
import { ConfigError, envReader, redactUrl } from "./config.ts";

Deno.test("envReader() reports every bad variable at once", () => {
  const r = envReader({ PORT: "80x", LEVEL: "loud", DATABASE_URL: "not a url", LIMIT: "1000", FLAG: "maybe" });
  r.port("PORT", 8080);
  r.oneOf("LEVEL", ["info", "debug"], "info");
  r.url("DATABASE_URL");
  r.int("LIMIT", 10, { min: 1, max: 100 });
  r.bool("FLAG", false);
  r.string("REQUIRED");
  assert.throws(() => r.done(), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.problems.length, 6);
    for (const name of ["PORT", "LEVEL", "DATABASE_URL", "LIMIT", "FLAG", "REQUIRED"]) {
      assert.ok(error.problems.some((p) => p.startsWith(name)), `${name} reported`);
    }
    return true;
  });
});

Deno.test("envReader() applies defaults and parses valid values", () => {
  const r = envReader({ PORT: "9000", FLAG: "1", LIST: "a, b", ADDR: "localhost:50051", EMPTY: "  " });
  assert.equal(r.port("PORT", 8080), 9000);
  assert.equal(r.port("OTHER_PORT", 8080), 8080);
  assert.equal(r.bool("FLAG", false), true);
  assert.deepEqual(r.list("LIST", []), ["a", "b"]);
  assert.equal(r.address("ADDR"), "localhost:50051");
  assert.equal(r.optional("EMPTY"), undefined);
  assert.equal(r.url("U", { fallback: "http://x/" }), "http://x/");
  r.done();
});

Deno.test("envReader() rejects a URL with a protocol it does not accept, without showing its password", () => {
  const r = envReader({ DATABASE_URL: "mysql://u:hunter2@db/x" });
  r.url("DATABASE_URL", { protocols: ["postgres", "postgresql"] });
  assert.throws(() => r.done(), (error: Error) => !error.message.includes("hunter2"));
});

Deno.test("redactUrl() hides passwords", () => {
  assert.equal(redactUrl("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
  assert.equal(redactUrl("postgres://h/db"), "postgres://h/db");
});
