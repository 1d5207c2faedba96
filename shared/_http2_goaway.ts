/**
 * A workaround for a crash of the Deno runtime (seen on 2.9.6): when a
 * node:http2 client session is torn down synchronously inside its own
 * `goaway` event, the process can die with SIGSEGV. grpc-js does exactly
 * that when a server shuts down gracefully (GOAWAY, then close), so any
 * program holding a gRPC channel could crash whenever a neighbour restarts.
 *
 * Delivering `goaway` one macrotask later lets the native session finish
 * handling the frame first; grpc-js then reconnects as it would on Node.
 * Client sessions only; the patch is installed once per process.
 */

import http2 from "node:http2";

const INSTALLED = Symbol.for("securepay.http2.deferredGoaway");

type Connect = typeof http2.connect;

/** Makes every node:http2 client session emit `goaway` asynchronously. */
export function deferHttp2Goaway(): void {
  const target = http2 as unknown as Record<PropertyKey, unknown> & { connect: Connect };
  if (target[INSTALLED]) return;
  const connect = target.connect;
  target.connect = function (this: unknown, ...args: Parameters<Connect>) {
    const session = Reflect.apply(connect, this, args) as http2.ClientHttp2Session;
    const emit = session.emit;
    session.emit = function (this: http2.ClientHttp2Session, event: string | symbol, ...rest: unknown[]) {
      if (event === "goaway") {
        setImmediate(() => emit.call(this, event, ...rest));
        return this.listenerCount(event) > 0;
      }
      return emit.call(this, event, ...rest);
    } as typeof session.emit;
    return session;
  } as Connect;
  target[INSTALLED] = true;
}
