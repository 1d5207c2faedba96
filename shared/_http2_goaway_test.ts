import assert from "node:assert/strict";
import http2 from "node:http2";
import { deferHttp2Goaway } from "./_http2_goaway.ts";

Deno.test("deferHttp2Goaway() delivers a client session's goaway after the current task", async () => {
  deferHttp2Goaway();
  deferHttp2Goaway(); // Installing twice must not wrap twice.
  const server = http2.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const order: string[] = [];
    const delivered = new Promise<void>((resolve) =>
      session.on("goaway", (code: number) => {
        order.push(`goaway ${code}`);
        resolve();
      })
    );
    session.emit("goaway", 0, 0, undefined);
    order.push("after emit");
    await delivered;
    assert.deepEqual(order, ["after emit", "goaway 0"]);
    // Other events are untouched.
    let seen = false;
    session.on("custom", () => (seen = true));
    session.emit("custom");
    assert.equal(seen, true);
  } finally {
    session.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
