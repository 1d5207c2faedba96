/**
 * Demo data for `deno task dev`, created through the gateway's public API
 * exactly as a client would: two users, `alice` and `bob`, each with one EUR
 * account funded once with €1,000.00.
 *
 * Idempotent across restarts: an existing EUR account of the owner is
 * reused, and the deposit carries an Idempotency-Key derived from the
 * account id, so a second start replays the first deposit instead of
 * funding again.
 */

export const DEMO_USERS = ["alice", "bob"] as const;
export type DemoUser = typeof DEMO_USERS[number];
export const DEMO_CURRENCY = "EUR";
/** €1,000.00 in minor units. */
export const DEMO_DEPOSIT_MINOR = 100_000;
/** The subject of the ADMIN token the seed uses. */
export const SEED_ADMIN_SUBJECT = "devstack-seed";

export interface SeededAccount {
  readonly owner: DemoUser;
  readonly accountId: string;
  readonly balance: number;
}

export interface SeedOptions {
  /** e.g. http://127.0.0.1:8080 */
  gatewayUrl: string;
  /** A bearer token with the ADMIN role. */
  adminToken: string;
  /** Bound on each request. */
  requestTimeoutMs?: number;
}

interface AccountJson {
  id: string;
  owner_id: string;
  currency: string;
  balance: number;
  status: string;
}

async function call<T>(
  options: SeedOptions,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<T> {
  const res = await fetch(`${options.gatewayUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${options.adminToken}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(options.requestTimeoutMs ?? 10_000),
  });
  const text = await res.text();
  if (!res.ok) {
    throw new Error(`Cannot seed the demo data as ${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`);
  }
  return JSON.parse(text) as T;
}

/** The deposit key for `accountId`: fixed, so a restart replays instead of funding twice. */
export function seedDepositKey(accountId: string): string {
  return `devstack-seed-deposit-${accountId}`;
}

async function seedUser(options: SeedOptions, owner: DemoUser): Promise<SeededAccount> {
  const page = await call<{ data: AccountJson[] }>(
    options,
    "GET",
    `/v1/accounts?owner_id=${encodeURIComponent(owner)}&limit=100`,
  );
  let account = page.data
    .filter((a) => a.owner_id === owner && a.currency === DEMO_CURRENCY && a.status === "OPEN")
    // The oldest is the one a previous start created.
    .at(-1);
  account ??= await call<AccountJson>(options, "POST", "/v1/accounts", { currency: DEMO_CURRENCY, owner_id: owner });
  const deposit = await call<{ account: AccountJson }>(
    options,
    "POST",
    `/v1/accounts/${account.id}/deposits`,
    { amount: DEMO_DEPOSIT_MINOR },
    { "idempotency-key": seedDepositKey(account.id) },
  );
  // A replayed deposit returns the account as it was then; read it afresh.
  const current = await call<AccountJson>(options, "GET", `/v1/accounts/${deposit.account.id}`);
  return { owner, accountId: current.id, balance: current.balance };
}

/** Creates (or finds) the demo accounts and funds each once. */
export async function seedDemoData(options: SeedOptions): Promise<Record<DemoUser, SeededAccount>> {
  const alice = await seedUser(options, "alice");
  const bob = await seedUser(options, "bob");
  return { alice, bob };
}
