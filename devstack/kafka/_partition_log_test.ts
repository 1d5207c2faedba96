import assert from "node:assert/strict";
import { PartitionLog } from "./_partition_log.ts";
import { readBatchHeader } from "./_record_batch.ts";
import { buildRecordBatch } from "./_wire_test_support.ts";

const OPTIONS = { indexIntervalBytes: 128, batchBytesMax: 1 << 20, producersMax: 10 };

function append(log: PartitionLog, values: string[]): number {
  const batch = buildRecordBatch({ values });
  return log.append(batch, readBatchHeader(batch));
}

Deno.test("PartitionLog recovers its offsets and truncates a torn tail after a crash", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/t-0.log`;
  try {
    const { log } = PartitionLog.open(path, OPTIONS);
    for (let i = 0; i < 20; i++) assert.equal(append(log, [`a${i}`, `b${i}`]), i * 2);
    const goodBytes = log.sizeBytes;
    await log.close();
    // A crash mid-write leaves part of a batch: keep only its first 30 bytes.
    const torn = buildRecordBatch({ values: ["torn"] }).subarray(0, 30);
    await Deno.writeFile(path, torn, { append: true });

    const { log: reopened, recovery } = PartitionLog.open(path, OPTIONS);
    assert.deepEqual(recovery, { batches: 20, truncatedBytes: 30 });
    assert.equal(reopened.logEndOffset, 40);
    assert.equal((await Deno.stat(path)).size, goodBytes);
    assert.equal(append(reopened, ["after"]), 40);
    await reopened.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PartitionLog truncates at a batch whose checksum does not match", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/t-0.log`;
  try {
    const { log } = PartitionLog.open(path, OPTIONS);
    append(log, ["one"]);
    const secondAt = log.sizeBytes;
    append(log, ["two"]);
    append(log, ["three"]);
    await log.close();
    const bytes = await Deno.readFile(path);
    bytes[secondAt + 70] = bytes[secondAt + 70]! ^ 0xff;
    await Deno.writeFile(path, bytes);
    const { log: reopened, recovery } = PartitionLog.open(path, OPTIONS);
    assert.equal(recovery.batches, 1);
    assert.equal(reopened.logEndOffset, 1);
    await reopened.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PartitionLog.read() starts at the batch holding the offset and returns whole batches", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { log } = PartitionLog.open(`${dir}/t-0.log`, OPTIONS);
    for (let i = 0; i < 100; i++) append(log, [`r${i}-0`, `r${i}-1`, `r${i}-2`]);
    const bytes = log.read(151, 500);
    const first = readBatchHeader(bytes);
    assert.equal(first.baseOffset, 150);
    let at = 0;
    while (at < bytes.byteLength) at += readBatchHeader(bytes, at).sizeBytes;
    assert.equal(at, bytes.byteLength, "no partial batch at the end");
    assert.ok(bytes.byteLength <= 500);
    // A limit smaller than one batch still returns that batch.
    assert.equal(readBatchHeader(log.read(299, 1)).baseOffset, 297);
    assert.equal(log.read(300, 1000).byteLength, 0);
    await log.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
