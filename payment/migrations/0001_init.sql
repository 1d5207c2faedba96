-- The payment service's schema: accepted payments and the outbox of their
-- events. The runner applies this file with search_path set to payments.

create table payments.transactions (
  id uuid primary key,
  principal text not null check (char_length(principal) between 1 and 255),
  idempotency_key text not null check (idempotency_key ~ '^[\x20-\x7e]{1,255}$'),
  fingerprint text not null check (fingerprint ~ '^[0-9a-f]{64}$'),
  from_account uuid not null,
  to_account uuid not null,
  amount bigint not null check (amount > 0 and amount <= 1000000000000),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  description text check (char_length(description) <= 500),
  status text not null check (status in ('PENDING', 'COMPLETED', 'FAILED', 'REFUNDED')),
  failure_reason text check (char_length(failure_reason) <= 200),
  payer_owner_id text not null,
  payee_owner_id text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint transactions_principal_idempotency_key_key unique (principal, idempotency_key),
  constraint transactions_distinct_accounts check (from_account <> to_account)
);

-- Listings run newest first, by owner on either side or by account on either side.
create index transactions_payer_owner_idx on payments.transactions (payer_owner_id, created_at desc, id desc);
create index transactions_payee_owner_idx on payments.transactions (payee_owner_id, created_at desc, id desc);
create index transactions_from_account_idx on payments.transactions (from_account, created_at desc, id desc);
create index transactions_to_account_idx on payments.transactions (to_account, created_at desc, id desc);
create index transactions_created_idx on payments.transactions (created_at desc, id desc);

-- Invariant 6: a status never goes backwards (PENDING -> COMPLETED -> REFUNDED,
-- PENDING -> FAILED), and what was accepted (who, what, how much) never changes.
create function payments.guard_transaction_update() returns trigger
language plpgsql as $$
begin
  if (new.id, new.principal, new.idempotency_key, new.fingerprint, new.from_account, new.to_account,
      new.amount, new.currency, new.payer_owner_id, new.payee_owner_id, new.created_at)
     is distinct from
     (old.id, old.principal, old.idempotency_key, old.fingerprint, old.from_account, old.to_account,
      old.amount, old.currency, old.payer_owner_id, old.payee_owner_id, old.created_at) then
    raise exception 'Cannot update payment % as its accepted fields are immutable', old.id
      using errcode = 'check_violation', constraint = 'transactions_immutable';
  end if;
  if new.status is distinct from old.status and not (
       (old.status = 'PENDING' and new.status in ('COMPLETED', 'FAILED'))
    or (old.status = 'COMPLETED' and new.status = 'REFUNDED')
  ) then
    raise exception 'Cannot move payment % as % -> % is not an allowed transition', old.id, old.status, new.status
      using errcode = 'check_violation', constraint = 'transactions_status_transition';
  end if;
  new.updated_at := now();
  return new;
end;
$$;

create trigger transactions_guard_update
  before update on payments.transactions
  for each row execute function payments.guard_transaction_update();

-- Events wait here until a relay publishes them and sets sent_at.
create table payments.outbox (
  id bigserial primary key,
  topic text not null,
  key text not null,
  event_id uuid not null unique,
  event_type text not null,
  payload bytea not null,
  headers jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  sent_at timestamptz
);

create index outbox_unsent_idx on payments.outbox (id) where sent_at is null;
