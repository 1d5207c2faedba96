/**
 * A group member for the crash test, run as a separate process so the test
 * can SIGKILL it. Prints "joined" after each join and "partition:offset"
 * per processed record, then does nothing else until it is killed.
 */

import { quietKafka } from "./_test_support.ts";

const address = Deno.args[0];
if (address === undefined) throw new TypeError("Cannot start crash member as no broker address was given");
const consumer = quietKafka(address, "crasher").consumer({
  groupId: "ledger",
  sessionTimeout: 6000,
  heartbeatInterval: 200,
  maxWaitTimeInMs: 100,
  rebalanceTimeout: 10000,
});
const encoder = new TextEncoder();
consumer.on(consumer.events.GROUP_JOIN, () => Deno.stdout.writeSync(encoder.encode("joined\n")));
await consumer.connect();
await consumer.subscribe({ topic: "payments", fromBeginning: true });
await consumer.run({
  eachMessage: ({ partition, message }) => {
    Deno.stdout.writeSync(encoder.encode(`${partition}:${message.offset}\n`));
    return Promise.resolve();
  },
});
