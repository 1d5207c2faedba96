/** Identifiers and opaque pagination cursors. */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}

export const PAGE_LIMIT_DEFAULT = 20;
export const PAGE_LIMIT_MAX = 100;

/** Clamps a page size from a request; 0 or unset means the default. */
export function pageLimit(limit: number | undefined): number {
  if (!limit || limit <= 0) return PAGE_LIMIT_DEFAULT;
  return Math.min(Math.trunc(limit), PAGE_LIMIT_MAX);
}

/**
 * A keyset cursor: the sort key of the last row of a page. Encoded as
 * base64url JSON so callers treat it as opaque.
 */
export interface Cursor {
  /** RFC 3339 time or numeric sequence of the last row. */
  readonly after: string;
  /** Tie-breaker: the id of the last row. */
  readonly id: string;
}

export function encodeCursor(cursor: Cursor): string {
  const bytes = new TextEncoder().encode(JSON.stringify([cursor.after, cursor.id]));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decodes a cursor, or returns undefined when it is not one of ours. */
export function decodeCursor(value: string): Cursor | undefined {
  if (value.length === 0 || value.length > 512 || !/^[A-Za-z0-9_-]+$/.test(value)) return undefined;
  try {
    const text = atob(value.replace(/-/g, "+").replace(/_/g, "/"));
    const parsed = JSON.parse(new TextDecoder().decode(Uint8Array.from(text, (c) => c.charCodeAt(0))));
    if (!Array.isArray(parsed) || parsed.length !== 2) return undefined;
    const [after, id] = parsed;
    if (typeof after !== "string" || typeof id !== "string" || after.length > 64 || id.length > 64) return undefined;
    return { after, id };
  } catch {
    return undefined;
  }
}
