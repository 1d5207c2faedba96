/**
 * Environment parsing that reports every bad variable at once.
 *
 * ```ts
 * const env = envReader(Deno.env.toObject());
 * const config = { port: env.port("PORT", 8080), databaseUrl: env.url("DATABASE_URL") };
 * env.done(); // throws ConfigError listing every problem
 * ```
 */

export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Cannot start as the configuration is invalid:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

export type Env = Record<string, string | undefined>;

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = typeof LOG_LEVELS[number];

export interface EnvReader {
  /** A required string, or `fallback` when unset. */
  string(name: string, fallback?: string): string;
  /** An optional string: `undefined` when unset or empty. */
  optional(name: string): string | undefined;
  /** A TCP port 0–65535. */
  port(name: string, fallback?: number): number;
  /** An integer within [min, max]. */
  int(name: string, fallback: number, bounds: { min: number; max: number }): number;
  /** A number within [min, max]. */
  number(name: string, fallback: number, bounds: { min: number; max: number }): number;
  /** A boolean written true/false/1/0. */
  bool(name: string, fallback: boolean): boolean;
  /** An absolute URL whose protocol is one of `protocols`. */
  url(name: string, options?: { fallback?: string; protocols?: readonly string[] }): string;
  /** An optional absolute URL; `undefined` when unset. */
  optionalUrl(name: string, options?: { protocols?: readonly string[] }): string | undefined;
  /** One of `choices`. */
  oneOf<T extends string>(name: string, choices: readonly T[], fallback: T): T;
  /** A comma-separated list of non-empty items. */
  list(name: string, fallback: readonly string[]): string[];
  /** `host:port`, with a host name or IP literal. */
  address(name: string, fallback?: string): string;
  /** Records a problem found by the caller's own checks. */
  problem(message: string): void;
  /** Throws {@link ConfigError} if any problem was recorded. */
  done(): void;
}

/** Builds a reader over `env`; call `done()` after the last read. */
export function envReader(env: Env): EnvReader {
  const problems: string[] = [];
  const raw = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  };
  const missing = (name: string) => problems.push(`${name} is required but not set`);

  const reader: EnvReader = {
    string(name, fallback) {
      const value = raw(name) ?? fallback;
      if (value === undefined) {
        missing(name);
        return "";
      }
      return value;
    },
    optional(name) {
      return raw(name);
    },
    port(name, fallback) {
      const value = raw(name);
      if (value === undefined) {
        if (fallback === undefined) missing(name);
        return fallback ?? 0;
      }
      if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
        problems.push(`${name} must be a port number 0-65535, got "${truncate(value)}"`);
        return fallback ?? 0;
      }
      return Number(value);
    },
    int(name, fallback, { min, max }) {
      const value = raw(name);
      if (value === undefined) return fallback;
      if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
        problems.push(`${name} must be an integer, got "${truncate(value)}"`);
        return fallback;
      }
      const n = Number(value);
      if (n < min || n > max) {
        problems.push(`${name} must be between ${min} and ${max}, got ${n}`);
        return fallback;
      }
      return n;
    },
    number(name, fallback, { min, max }) {
      const value = raw(name);
      if (value === undefined) return fallback;
      const n = Number(value);
      if (!Number.isFinite(n) || !/^-?[\d.]+(e-?\d+)?$/i.test(value)) {
        problems.push(`${name} must be a number, got "${truncate(value)}"`);
        return fallback;
      }
      if (n < min || n > max) {
        problems.push(`${name} must be between ${min} and ${max}, got ${n}`);
        return fallback;
      }
      return n;
    },
    bool(name, fallback) {
      const value = raw(name)?.toLowerCase();
      if (value === undefined) return fallback;
      if (value === "true" || value === "1") return true;
      if (value === "false" || value === "0") return false;
      problems.push(`${name} must be true or false, got "${truncate(value)}"`);
      return fallback;
    },
    url(name, options = {}) {
      const value = raw(name) ?? options.fallback;
      if (value === undefined) {
        missing(name);
        return "";
      }
      return checkUrl(name, value, options.protocols) ?? "";
    },
    optionalUrl(name, options = {}) {
      const value = raw(name);
      return value === undefined ? undefined : checkUrl(name, value, options.protocols);
    },
    oneOf(name, choices, fallback) {
      const value = raw(name);
      if (value === undefined) return fallback;
      const match = choices.find((c) => c === value.toLowerCase() || c === value);
      if (match === undefined) {
        problems.push(`${name} must be one of ${choices.join(", ")}, got "${truncate(value)}"`);
        return fallback;
      }
      return match;
    },
    list(name, fallback) {
      const value = raw(name);
      if (value === undefined) return [...fallback];
      const items = value.split(",").map((s) => s.trim());
      if (items.some((s) => s === "")) {
        problems.push(`${name} must be a comma-separated list without empty items`);
        return [...fallback];
      }
      return items;
    },
    address(name, fallback) {
      const value = raw(name) ?? fallback;
      if (value === undefined) {
        missing(name);
        return "";
      }
      const match = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(value);
      if (!match || Number(match[2]) > 65535) {
        problems.push(`${name} must be host:port, got "${truncate(value)}"`);
        return fallback ?? "";
      }
      return value;
    },
    problem(message) {
      problems.push(message);
    },
    done() {
      if (problems.length > 0) throw new ConfigError(problems);
    },
  };
  return reader;

  function checkUrl(name: string, value: string, protocols?: readonly string[]): string | undefined {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      problems.push(`${name} must be an absolute URL, got "${redactUrl(value)}"`);
      return undefined;
    }
    if (protocols && !protocols.includes(url.protocol.replace(/:$/, ""))) {
      problems.push(`${name} must use ${protocols.join(" or ")}, got "${url.protocol.replace(/:$/, "")}"`);
      return undefined;
    }
    return value;
  }
}

function truncate(value: string): string {
  return value.length > 64 ? `${value.slice(0, 61)}...` : value;
}

/** Hides the password of a URL so it can be shown in errors and logs. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return value.replace(/\/\/([^:/@]+):[^@/]*@/, "//$1:***@");
  }
}

/**
 * Runs several parsers of one environment and throws one ConfigError with
 * all their problems, so a program reports every bad variable at once even
 * when its settings are read by more than one module.
 */
export function parseEach<T extends readonly unknown[]>(
  parsers: { [K in keyof T]: () => T[K] },
): T {
  const problems: string[] = [];
  const results = parsers.map((parse) => {
    try {
      return parse();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
      return undefined;
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return results as unknown as T;
}
