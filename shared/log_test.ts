import assert from "node:assert/strict";
import { createLogger } from "./log.ts";

Deno.test("createLogger() writes one JSON object per line with time, level, service and fields", () => {
  const lines: string[] = [];
  const log = createLogger({ service: "payment", write: (l) => lines.push(l), now: () => new Date(0) });
  log.with({ request_id: "r1" }).info("accepted", { amount: 5 });
  assert.deepEqual(JSON.parse(lines[0]!), {
    time: "1970-01-01T00:00:00.000Z",
    level: "info",
    service: "payment",
    msg: "accepted",
    request_id: "r1",
    amount: 5,
  });
});

Deno.test("createLogger() drops lines below its level", () => {
  const lines: string[] = [];
  const log = createLogger({ service: "s", level: "warn", write: (l) => lines.push(l) });
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(lines.map((l) => JSON.parse(l).level), ["warn", "error"]);
});

Deno.test("createLogger() never writes credentials, even nested", () => {
  const lines: string[] = [];
  const log = createLogger({ service: "s", write: (l) => lines.push(l) });
  log.info("call", { authorization: "Bearer abc.def", headers: { cookie: "x", "x-token": "t" }, password: "p" });
  const text = lines.join("\n");
  for (const secret of ["abc.def", '"x"', '"t"', '"p"']) assert.ok(!text.includes(secret), secret);
  assert.match(text, /\[redacted\]/);
});

Deno.test("createLogger() serialises errors with their cause", () => {
  const lines: string[] = [];
  const log = createLogger({ service: "s", write: (l) => lines.push(l) });
  log.error("failed", { error: new Error("outer", { cause: new TypeError("inner") }) });
  const line = JSON.parse(lines[0]!);
  assert.equal(line.error.message, "outer");
  assert.equal(line.error.cause.name, "TypeError");
});
