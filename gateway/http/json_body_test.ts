import assert from "node:assert/strict";
import { AppError } from "@securepay/shared";
import { readBounded } from "./json_body.ts";

function trickle(chunks: Uint8Array[], options: { stall?: boolean } = {}): Request {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      if (!options.stall) controller.close();
    },
  });
  return new Request("http://gateway/v1/payments", { method: "POST", body });
}

Deno.test("readBounded() gives up on a body that stops arriving, with request_timeout", async () => {
  const started = Date.now();
  await assert.rejects(
    readBounded(trickle([new Uint8Array(10)], { stall: true }), 1024, { timeoutMs: 100 }),
    (error: unknown) => error instanceof AppError && error.code === "request_timeout" && error.httpStatus === 408,
  );
  assert.ok(Date.now() - started < 1_000);
});

Deno.test("readBounded() reads a chunked body within its limits and refuses one over the byte bound", async () => {
  const bytes = await readBounded(trickle([new Uint8Array([1, 2]), new Uint8Array([3])]), 3, { timeoutMs: 1_000 });
  assert.deepEqual([...bytes], [1, 2, 3]);
  await assert.rejects(
    readBounded(trickle([new Uint8Array(3), new Uint8Array(2)]), 4),
    (error: unknown) => error instanceof AppError && error.code === "payload_too_large",
  );
});
