/**
 * Hostile clients: truncated, oversized, garbage and thousands of random or
 * mutated frames. The broker must answer or close each offending
 * connection, never fall over, and keep serving a well-behaved kafkajs
 * client the whole time.
 */

import assert from "node:assert/strict";
import { Writer } from "./_codec.ts";
import { ApiKey } from "./_protocol.ts";
import { range, startTestBroker, waitFor } from "./_test_support.ts";
import { buildRecordBatch, frame, produceBody, WireClient } from "./_wire_test_support.ts";

/** Deterministic pseudo-random numbers, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Valid request bodies to mutate; Fetch and JoinGroup use short waits so parked requests end soon. */
function templates(): [number, number, Uint8Array][] {
  const batch = buildRecordBatch({ values: ["fuzz"] });
  return [
    [ApiKey.Metadata, 6, new Writer().int32(1).string("fuzz").boolean(true).finish().slice()],
    [ApiKey.Produce, 7, produceBody("fuzz", 0, batch).finish().slice()],
    [
      ApiKey.Fetch,
      11,
      new Writer().int32(-1).int32(50).int32(1).int32(1 << 20).int8(0).int32(0).int32(-1).int32(1).string("fuzz")
        .int32(1).int32(0).int32(-1).int64(0).int64(-1).int32(1 << 20).int32(0).string("").finish().slice(),
    ],
    [
      ApiKey.JoinGroup,
      5,
      new Writer().string("fuzz-group").int32(6000).int32(100).string("").nullableString(null).string("consumer")
        .int32(1).string("range").bytes(new Uint8Array(4)).finish().slice(),
    ],
    [
      ApiKey.OffsetCommit,
      5,
      new Writer().string("fuzz-group").int32(-1).string("").int32(1).string("fuzz").int32(1).int32(0).int64(1)
        .nullableString(null).finish().slice(),
    ],
    [
      ApiKey.ListOffsets,
      3,
      new Writer().int32(-1).int8(0).int32(1).string("fuzz").int32(1).int32(0).int64(-2).finish().slice(),
    ],
    [
      ApiKey.CreateTopics,
      3,
      new Writer().int32(1).string("fuzz2").int32(2).int16(1).int32(0).int32(0).int32(1000).boolean(false).finish()
        .slice(),
    ],
  ];
}

function randomFrames(count: number, next: () => number): Uint8Array[] {
  const bases = templates();
  return range(count).map((i) => {
    if (i % 2 === 0) {
      const body = new Uint8Array(Math.floor(next() * 200));
      for (let b = 0; b < body.length; b++) body[b] = Math.floor(next() * 256);
      const apiKey = next() < 0.8
        ? [0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 18, 19, 20, 22][Math.floor(next() * 16)]!
        : Math.floor(next() * 100);
      return frame(apiKey, Math.floor(next() * 13), i, body);
    }
    const [apiKey, version, base] = bases[Math.floor(next() * bases.length)]!;
    const body = base.slice();
    const flips = 1 + Math.floor(next() * 4);
    for (let f = 0; f < flips && body.length > 0; f++) {
      body[Math.floor(next() * body.length)] = Math.floor(next() * 256);
    }
    return frame(apiKey, version, i, next() < 0.2 ? body.subarray(0, Math.floor(next() * body.length)) : body);
  });
}

/** Outcomes of a barrage: frames answered, connections the broker closed, requests left parked. */
interface Outcome {
  answered: number;
  closed: number;
  parked: number;
}

/**
 * Sends frames one at a time, waiting for each answer. When the broker
 * closes the connection (the expected reaction to a malformed frame) or
 * parks a request (a JoinGroup or Fetch that waits by design), the next
 * frame goes out on a fresh connection.
 */
async function barrage(port: number, frames: Uint8Array[], outcome: Outcome): Promise<void> {
  let client: WireClient | undefined;
  try {
    for (const bytes of frames) {
      client ??= await WireClient.connect(port);
      let answer: Uint8Array | null | "parked";
      try {
        await client.write(bytes);
        answer = await client.readFrame(300).catch(() => "parked" as const);
      } catch {
        answer = null;
      }
      if (answer === null) outcome.closed++;
      else if (answer === "parked") outcome.parked++;
      else outcome.answered++;
      if (answer === null || answer === "parked") {
        client.close();
        client = undefined;
      }
    }
  } finally {
    client?.close();
  }
}

Deno.test("the broker survives truncated, oversized, garbage and random frames while serving kafkajs", async () => {
  await using broker = await startTestBroker({ partitionsMax: 200, frameBytesMax: 1 << 20, fetchWaitMaxMs: 200 });
  const kafka = broker.kafka();
  const producer = kafka.producer();
  await producer.connect();
  const consumer = kafka.consumer({ groupId: "steady", maxWaitTimeInMs: 100, heartbeatInterval: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic: "steady", fromBeginning: true });
  const seen = new Set<string>();
  await consumer.run({
    eachMessage: ({ message }) => {
      seen.add(message.value!.toString());
      return Promise.resolve();
    },
  });
  let sent = 0;
  let producing = true;
  const steady = (async () => {
    while (producing) {
      await producer.send({ topic: "steady", messages: [{ value: `m${sent}` }] });
      sent++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();

  try {
    // Oversized: the size alone is over the limit, so the broker closes before reading more.
    {
      await using client = await WireClient.connect(broker.port);
      await client.write(new Uint8Array([0x7f, 0xff, 0xff, 0xff, 0, 18, 0, 0]));
      assert.equal(await client.readFrame(), null);
    }
    // Negative and too-small sizes are just as fatal to the connection.
    for (const size of [-1, 0, 3]) {
      await using client = await WireClient.connect(broker.port);
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setInt32(0, size);
      await client.write(bytes);
      assert.equal(await client.readFrame(), null);
    }
    // Truncated: a frame that promises more than it delivers, then a hang-up.
    {
      const client = await WireClient.connect(broker.port);
      await client.write(frame(ApiKey.Metadata, 6, 1, new Uint8Array(40)).subarray(0, 20));
      client.close();
    }
    // A header-only body where one is required: decoding fails, the connection closes.
    {
      await using client = await WireClient.connect(broker.port);
      await client.write(frame(ApiKey.Produce, 7, 1, new Uint8Array(0)));
      assert.equal(await client.readFrame(), null);
    }
    // Garbage: random bytes with no framing at all.
    const next = random(20260412);
    for (const _ of range(20)) {
      const garbage = new Uint8Array(1 + Math.floor(next() * 4096));
      for (let b = 0; b < garbage.length; b++) garbage[b] = Math.floor(next() * 256);
      await barrage(broker.port, [garbage], { answered: 0, closed: 0, parked: 0 });
    }
    // Thousands of random and mutated frames, over a few concurrent connections.
    const frames = randomFrames(4000, next);
    const outcome: Outcome = { answered: 0, closed: 0, parked: 0 };
    await Promise.all(range(8).map((c) => barrage(broker.port, frames.filter((_, i) => i % 8 === c), outcome)));
    assert.equal(outcome.answered + outcome.closed + outcome.parked, 4000);
    assert.ok(outcome.answered > 500, `many random frames get answers: ${JSON.stringify(outcome)}`);
    assert.ok(outcome.closed > 500, `many random frames close their connection: ${JSON.stringify(outcome)}`);

    const before = sent;
    await waitFor("the steady client keeps producing", () => sent >= before + 5);
  } finally {
    producing = false;
    await steady;
  }
  await waitFor("the steady consumer saw every record", () => seen.size >= sent);
  await producer.disconnect();
  await consumer.disconnect();
  assert.ok(sent >= 5);
});
