-- Accounts with their balances, the deposits that bring money in, and the
-- ledger that explains every change of a balance. Applied with the search
-- path set to the accounts schema.

create table balances (
  id uuid primary key default gen_random_uuid(),
  owner_id text not null check (char_length(owner_id) between 1 and 255),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  balance bigint not null default 0,
  -- Bumped by every balance change; payment application checks it (optimistic locking).
  version bigint not null default 0 check (version >= 0),
  status text not null default 'OPEN' check (status in ('OPEN', 'CLOSED')),
  -- Microsecond precision orders rows of separate transactions; pagination
  -- cursors carry it exactly as epoch microseconds.
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint balances_balance_non_negative check (balance >= 0),
  -- Number.MAX_SAFE_INTEGER: every balance stays exact in JavaScript.
  constraint balances_balance_max check (balance <= 9007199254740991)
);

create index balances_owner_created_idx on balances (owner_id, created_at desc, id desc);
create index balances_created_idx on balances (created_at desc, id desc);

create table deposits (
  id uuid primary key,
  account_id uuid not null references balances (id),
  -- The subject of the principal that asked; idempotency keys are scoped to it.
  principal text not null check (char_length(principal) between 1 and 255),
  idempotency_key text not null check (char_length(idempotency_key) between 1 and 255),
  -- SHA-256 of the canonical request, to tell a replay from a reused key.
  fingerprint text not null,
  amount bigint not null check (amount > 0 and amount <= 1000000000000),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  created_at timestamptz not null default now(),
  constraint deposits_principal_idempotency_key unique (principal, idempotency_key)
);

create index deposits_account_idx on deposits (account_id);

create table ledger_entries (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references balances (id),
  -- Signed: positive adds to the balance, negative takes from it.
  amount bigint not null check (amount <> 0),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  kind text not null check (kind in ('DEPOSIT', 'DEBIT', 'CREDIT', 'REFUND_DEBIT', 'REFUND_CREDIT')),
  payment_id uuid,
  deposit_id uuid references deposits (id),
  balance_after bigint not null check (balance_after >= 0),
  created_at timestamptz not null default now(),
  -- Each entry comes from exactly one deposit or one payment, with the sign its kind demands.
  constraint ledger_entries_source check (
    (kind = 'DEPOSIT' and deposit_id is not null and payment_id is null and amount > 0)
    or (kind in ('CREDIT', 'REFUND_CREDIT') and payment_id is not null and deposit_id is null and amount > 0)
    or (kind in ('DEBIT', 'REFUND_DEBIT') and payment_id is not null and deposit_id is null and amount < 0)
  )
);

create index ledger_entries_account_created_idx on ledger_entries (account_id, created_at desc, id desc);
-- A deposit books once; a payment books one entry of each kind (debit, credit, and their refunds).
create unique index ledger_entries_deposit_idx on ledger_entries (deposit_id) where deposit_id is not null;
create unique index ledger_entries_payment_kind_idx on ledger_entries (payment_id, kind) where payment_id is not null;
