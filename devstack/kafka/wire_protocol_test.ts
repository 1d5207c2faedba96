/**
 * Byte-level protocol behaviour that kafkajs cannot be made to exercise on
 * demand: retried idempotent batches, corrupt checksums, sequence gaps and
 * version negotiation errors.
 */

import assert from "node:assert/strict";
import { Writer } from "./_codec.ts";
import { ApiKey, ErrorCode } from "./_protocol.ts";
import { startTestBroker } from "./_test_support.ts";
import { buildRecordBatch, produceBody, readProduceResult, WireClient } from "./_wire_test_support.ts";

async function createTopic(client: WireClient, topic: string, partitions: number): Promise<void> {
  const body = new Writer().int32(1).string(topic).int32(partitions).int16(1).int32(0).int32(0).int32(5000).boolean(
    false,
  );
  const reader = await client.request(ApiKey.CreateTopics, 3, body);
  reader.int32(); // throttle
  reader.int32();
  reader.string();
  assert.equal(reader.int16(), ErrorCode.None);
}

async function initProducerId(client: WireClient): Promise<number> {
  const reader = await client.request(ApiKey.InitProducerId, 1, new Writer().nullableString(null).int32(60000));
  reader.int32();
  assert.equal(reader.int16(), ErrorCode.None);
  return reader.int64();
}

Deno.test("a retried idempotent batch is acknowledged with its first offset and stored once", async () => {
  await using broker = await startTestBroker();
  await using client = await WireClient.connect(broker.port);
  await createTopic(client, "idem", 1);
  const producerId = await initProducerId(client);
  const first = buildRecordBatch({ values: ["a", "b"], producerId, producerEpoch: 0, baseSequence: 0 });
  const second = buildRecordBatch({ values: ["c"], producerId, producerEpoch: 0, baseSequence: 2 });
  const send = async (batch: Uint8Array) =>
    readProduceResult(await client.request(ApiKey.Produce, 7, produceBody("idem", 0, batch.slice())));

  assert.deepEqual(await send(first), [ErrorCode.None, 0]);
  assert.deepEqual(await send(first), [ErrorCode.None, 0], "the retry gets the original offset");
  assert.deepEqual(await send(second), [ErrorCode.None, 2]);
  assert.deepEqual(await send(second), [ErrorCode.None, 2]);
  const gap = buildRecordBatch({ values: ["d"], producerId, producerEpoch: 0, baseSequence: 9 });
  assert.deepEqual(await send(gap), [ErrorCode.OutOfOrderSequenceNumber, -1]);
  const fenced = buildRecordBatch({ values: ["e"], producerId, producerEpoch: -1, baseSequence: 3 });
  assert.deepEqual((await send(fenced))[0], ErrorCode.InvalidProducerEpoch);

  const offsets = await client.request(
    ApiKey.ListOffsets,
    3,
    new Writer().int32(-1).int8(0).int32(1).string("idem").int32(1).int32(0).int64(-1),
  );
  offsets.int32();
  offsets.int32();
  offsets.string();
  offsets.int32();
  offsets.int32();
  assert.equal(offsets.int16(), ErrorCode.None);
  offsets.int64();
  assert.equal(offsets.int64(), 3, "three records, no duplicates");
});

Deno.test("a batch with a wrong CRC-32C is refused with CORRUPT_MESSAGE and not stored", async () => {
  await using broker = await startTestBroker();
  await using client = await WireClient.connect(broker.port);
  await createTopic(client, "crc", 1);
  const batch = buildRecordBatch({ values: ["payload"] });
  batch[batch.byteLength - 3] = batch[batch.byteLength - 3]! ^ 0x01;
  assert.deepEqual(
    readProduceResult(await client.request(ApiKey.Produce, 7, produceBody("crc", 0, batch))),
    [ErrorCode.CorruptMessage, -1],
  );
  const good = buildRecordBatch({ values: ["payload"] });
  assert.deepEqual(readProduceResult(await client.request(ApiKey.Produce, 7, produceBody("crc", 0, good))), [0, 0]);
  assert.deepEqual(
    readProduceResult(await client.request(ApiKey.Produce, 7, produceBody("missing", 0, good))),
    [ErrorCode.UnknownTopicOrPartition, -1],
  );
});

Deno.test("unsupported API keys and versions get UNSUPPORTED_VERSION, and ApiVersions falls back to v0", async () => {
  await using broker = await startTestBroker();
  await using client = await WireClient.connect(broker.port);
  // Produce v2 (legacy MessageSet) and an unknown key 999.
  assert.equal((await client.request(ApiKey.Produce, 2, new Uint8Array(0))).int16(), ErrorCode.UnsupportedVersion);
  assert.equal((await client.request(999, 0, new Uint8Array(0))).int16(), ErrorCode.UnsupportedVersion);
  // ApiVersions v3 is flexible; the answer is v0-shaped with the supported list, as Kafka's is.
  const versions = await client.request(ApiKey.ApiVersions, 3, new Uint8Array([0, 0, 0]));
  assert.equal(versions.int16(), ErrorCode.UnsupportedVersion);
  const apis = versions.array((r) => [r.int16(), r.int16(), r.int16()]);
  assert.deepEqual(apis.find(([key]) => key === ApiKey.Fetch), [ApiKey.Fetch, 4, 11]);
  // The connection is still usable afterwards.
  const ok = await client.request(ApiKey.ApiVersions, 2, new Uint8Array(0));
  assert.equal(ok.int16(), ErrorCode.None);
});

Deno.test("connections beyond connectionsMax are closed at once while existing ones keep working", async () => {
  await using broker = await startTestBroker({ connectionsMax: 2 });
  await using first = await WireClient.connect(broker.port);
  await using second = await WireClient.connect(broker.port);
  assert.equal((await first.request(ApiKey.ApiVersions, 2, new Uint8Array(0))).int16(), ErrorCode.None);
  assert.equal((await second.request(ApiKey.ApiVersions, 2, new Uint8Array(0))).int16(), ErrorCode.None);
  await using third = await WireClient.connect(broker.port);
  await third.write(new Uint8Array(0));
  assert.equal(await third.readFrame(), null);
  assert.equal((await first.request(ApiKey.ApiVersions, 2, new Uint8Array(0))).int16(), ErrorCode.None);
});
