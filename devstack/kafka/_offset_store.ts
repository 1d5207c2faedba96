/**
 * Committed consumer-group offsets: an in-memory map backed by an
 * append-only file of JSON lines (`offsets.jsonl`). A torn last line from a
 * crash is dropped on open; the file is rewritten compactly when it grows
 * well past what the live offsets need.
 */

import { writeFileAtomicSync } from "./_atomic_file.ts";

export interface CommittedOffset {
  offset: number;
  metadata: string | null;
}

interface CommitLine {
  g: string;
  t: string;
  p: number;
  o: number;
  m: string | null;
}

interface DeleteTopicLine {
  deleteTopic: string;
}

const COMPACT_AFTER_BYTES = 4 << 20;
const encoder = new TextEncoder();

export class OffsetStore {
  readonly path: string;
  #groups = new Map<string, Map<string, CommittedOffset>>();
  #file: Deno.FsFile;
  #sizeBytes = 0;
  #syncedBytes = 0;
  #syncing: Promise<void> | null = null;
  #closed = false;

  private constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
  }

  static open(dataDir: string): OffsetStore {
    const path = `${dataDir}/offsets.jsonl`;
    const file = Deno.openSync(path, { read: true, write: true, create: true });
    const store = new OffsetStore(path, file);
    store.#load();
    return store;
  }

  #load(): void {
    const bytes = Deno.readFileSync(this.path);
    const text = new TextDecoder().decode(bytes);
    let goodBytes = 0;
    let start = 0;
    while (start < text.length) {
      const end = text.indexOf("\n", start);
      if (end < 0) break;
      let line: CommitLine | DeleteTopicLine;
      try {
        line = JSON.parse(text.slice(start, end));
      } catch {
        break;
      }
      this.#apply(line);
      goodBytes += encoder.encode(text.slice(start, end + 1)).byteLength;
      start = end + 1;
    }
    if (goodBytes < bytes.byteLength) {
      this.#file.truncateSync(goodBytes);
      this.#file.syncDataSync();
    }
    this.#sizeBytes = goodBytes;
    this.#syncedBytes = goodBytes;
  }

  #apply(line: CommitLine | DeleteTopicLine): void {
    if ("deleteTopic" in line) {
      this.#forgetTopic(line.deleteTopic);
      return;
    }
    let group = this.#groups.get(line.g);
    if (group === undefined) {
      group = new Map();
      this.#groups.set(line.g, group);
    }
    group.set(partitionKey(line.t, line.p), { offset: line.o, metadata: line.m });
  }

  #forgetTopic(topic: string): void {
    const prefix = `${topic}\u0000`;
    for (const group of this.#groups.values()) {
      for (const key of group.keys()) if (key.startsWith(prefix)) group.delete(key);
    }
  }

  get(group: string, topic: string, partition: number): CommittedOffset | undefined {
    return this.#groups.get(group)?.get(partitionKey(topic, partition));
  }

  /** Every committed (topic, partition) of a group, for OffsetFetch with null topics. */
  list(group: string): { topic: string; partition: number; committed: CommittedOffset }[] {
    const out = [];
    for (const [key, committed] of this.#groups.get(group) ?? []) {
      const at = key.lastIndexOf("\u0000");
      out.push({ topic: key.slice(0, at), partition: Number(key.slice(at + 1)), committed });
    }
    return out;
  }

  hasGroup(group: string): boolean {
    return (this.#groups.get(group)?.size ?? 0) > 0;
  }

  /** Appends the commits to the file (reaching the OS before it returns) and applies them. */
  commit(
    group: string,
    entries: { topic: string; partition: number; offset: number; metadata: string | null }[],
  ): void {
    let text = "";
    for (const entry of entries) {
      const line: CommitLine = { g: group, t: entry.topic, p: entry.partition, o: entry.offset, m: entry.metadata };
      text += JSON.stringify(line) + "\n";
      this.#apply(line);
    }
    this.#append(text);
  }

  deleteTopic(topic: string): void {
    this.#forgetTopic(topic);
    this.#append(JSON.stringify({ deleteTopic: topic }) + "\n");
  }

  #append(text: string): void {
    if (this.#closed) throw new Error(`Cannot record offsets as the store is closed: ${this.path}`);
    const bytes = encoder.encode(text);
    this.#file.seekSync(this.#sizeBytes, Deno.SeekMode.Start);
    let written = 0;
    while (written < bytes.byteLength) written += this.#file.writeSync(bytes.subarray(written));
    this.#sizeBytes += bytes.byteLength;
    if (this.#sizeBytes > COMPACT_AFTER_BYTES) this.#compactIfWorthIt();
  }

  #compactIfWorthIt(): void {
    // Swapping files under a running fsync would leave that fsync's outcome unknown.
    if (this.#syncing !== null) return;
    let live = "";
    for (const group of this.#groups.keys()) {
      for (const { topic, partition, committed } of this.list(group)) {
        const line: CommitLine = { g: group, t: topic, p: partition, o: committed.offset, m: committed.metadata };
        live += JSON.stringify(line) + "\n";
      }
    }
    const bytes = encoder.encode(live);
    if (bytes.byteLength * 4 > this.#sizeBytes) return;
    writeFileAtomicSync(this.path, bytes);
    this.#file.close();
    this.#file = Deno.openSync(this.path, { read: true, write: true });
    this.#sizeBytes = bytes.byteLength;
    this.#syncedBytes = bytes.byteLength;
  }

  get dirty(): boolean {
    return this.#syncedBytes < this.#sizeBytes;
  }

  /** Resolves once every commit recorded before the call is on disk (shared fsyncs). */
  async sync(): Promise<void> {
    const target = this.#sizeBytes;
    while (this.#syncedBytes < target && !this.#closed) {
      if (this.#syncing === null) {
        const covering = this.#sizeBytes;
        const file = this.#file;
        this.#syncing = file.syncData().then(() => {
          this.#syncedBytes = Math.max(this.#syncedBytes, covering);
        }).finally(() => {
          this.#syncing = null;
        });
      }
      await this.#syncing;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.sync();
    this.#closed = true;
    this.#file.close();
  }
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
