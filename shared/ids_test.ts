import assert from "node:assert/strict";
import { decodeCursor, encodeCursor, isUuid, PAGE_LIMIT_MAX, pageLimit } from "./ids.ts";

Deno.test("encodeCursor() and decodeCursor() round-trip and reject foreign values", () => {
  const cursor = { after: "2026-12-04T20:00:00.000Z", id: crypto.randomUUID() };
  assert.deepEqual(decodeCursor(encodeCursor(cursor)), cursor);
  for (
    const bad of ["", "!!!", "e30", btoa('{"a":1}'), "a".repeat(600), encodeCursor({ after: "x".repeat(65), id: "" })]
  ) {
    assert.equal(decodeCursor(bad), undefined, bad.slice(0, 20));
  }
});

Deno.test("pageLimit() defaults to 20 and caps at 100", () => {
  assert.equal(pageLimit(undefined), 20);
  assert.equal(pageLimit(0), 20);
  assert.equal(pageLimit(7), 7);
  assert.equal(pageLimit(1000), PAGE_LIMIT_MAX);
});

Deno.test("isUuid() accepts UUIDs only", () => {
  assert.ok(isUuid(crypto.randomUUID()));
  assert.ok(!isUuid("not-a-uuid"));
  assert.ok(!isUuid(`${crypto.randomUUID()}x`));
  assert.ok(!isUuid(42));
});
