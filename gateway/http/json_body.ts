/**
 * Reads a JSON request body within a byte bound, before any validator sees
 * it. The bound holds for chunked bodies too: reading stops at the first
 * byte over the limit, whatever Content-Length claimed.
 */

import type { MiddlewareHandler } from "hono";
import { AppError } from "@securepay/shared";
import type { GatewayEnv } from "./context.ts";

/** DESIGN.md §5: request bodies are at most 1 MiB. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

function tooLarge(limitBytes: number): AppError {
  return new AppError("payload_too_large", `the request body exceeds ${limitBytes} bytes`);
}

/**
 * How long a client may take to send its whole body. Without a bound, slow
 * senders could each hold a connection and up to a megabyte for as long as
 * they like.
 */
export const BODY_READ_TIMEOUT_MS = 10_000;

/**
 * The body's bytes, or payload_too_large as soon as they pass `limitBytes`,
 * or request_timeout when they have not all arrived within `timeoutMs`.
 */
export async function readBounded(
  request: Request,
  limitBytes: number,
  options: { timeoutMs?: number } = {},
): Promise<Uint8Array> {
  const timeoutMs = options.timeoutMs ?? BODY_READ_TIMEOUT_MS;
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limitBytes) {
    await request.body?.cancel().catch(() => {});
    throw tooLarge(limitBytes);
  }
  if (request.body === null) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new AppError("request_timeout", `the request body did not arrive within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    while (true) {
      const { done, value } = await Promise.race([reader.read(), expired]).catch(async (error) => {
        await reader.cancel().catch(() => {});
        throw error;
      });
      if (done) break;
      total += value.byteLength;
      if (total > limitBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge(limitBytes);
      }
      chunks.push(value);
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * Requires a JSON body (415 otherwise), at most `limitBytes` (413), that
 * parses (400 validation_error). The route's zod validator then reads the
 * checked text.
 */
export function jsonBody(options: { limitBytes?: number } = {}): MiddlewareHandler<GatewayEnv> {
  const limitBytes = options.limitBytes ?? BODY_LIMIT_BYTES;
  if (!Number.isSafeInteger(limitBytes) || limitBytes <= 0) {
    throw new RangeError(`Cannot limit bodies as the limit is not a positive integer: ${limitBytes}`);
  }
  return async function jsonBody(c, next) {
    const mediaType = (c.req.header("content-type") ?? "").split(";")[0]!.trim();
    if (!JSON_MEDIA_TYPE.test(mediaType)) {
      await c.req.raw.body?.cancel().catch(() => {});
      throw new AppError("unsupported_media_type", "the request body must be application/json");
    }
    const bytes = await readBounded(c.req.raw, limitBytes);
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      JSON.parse(text);
    } catch {
      throw new AppError("validation_error", "body is not valid JSON", {
        issues: [{ field: "body", message: "is not valid JSON" }],
      });
    }
    // The validator reads the checked text again, never the original stream.
    c.req.raw = new Request(c.req.raw.url, { method: c.req.method, headers: c.req.raw.headers, body: text });
    await next();
  };
}
