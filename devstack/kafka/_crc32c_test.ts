import assert from "node:assert/strict";
import { crc32c } from "./_crc32c.ts";

Deno.test("crc32c() matches the published check value and agrees across lengths", () => {
  // RFC 3720 B.4 check value for "123456789".
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});
