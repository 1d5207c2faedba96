-- The payment lifecycle after acceptance: refunds (one per payment, ever),
-- the inbox of outcome events already applied, and a wake-up call for the
-- outbox relay. The runner applies this file with search_path set to payments.

-- A refund request. One per payment: the unique payment_id is what makes a
-- second refund (whatever its Idempotency-Key) unable to move money again.
create table payments.refunds (
  id uuid primary key,
  payment_id uuid not null references payments.transactions (id),
  principal text not null check (char_length(principal) between 1 and 255),
  idempotency_key text not null check (idempotency_key ~ '^[\x20-\x7e]{1,255}$'),
  fingerprint text not null check (fingerprint ~ '^[0-9a-f]{64}$'),
  status text not null check (status in ('PENDING', 'COMPLETED', 'FAILED')),
  failure_reason text check (char_length(failure_reason) <= 200),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint refunds_payment_id_key unique (payment_id),
  constraint refunds_principal_idempotency_key_key unique (principal, idempotency_key)
);

-- A refund's status moves once (PENDING -> COMPLETED or FAILED); what was asked never changes.
create function payments.guard_refund_update() returns trigger
language plpgsql as $$
begin
  if (new.id, new.payment_id, new.principal, new.idempotency_key, new.fingerprint, new.created_at)
     is distinct from
     (old.id, old.payment_id, old.principal, old.idempotency_key, old.fingerprint, old.created_at) then
    raise exception 'Cannot update refund % as its requested fields are immutable', old.id
      using errcode = 'check_violation', constraint = 'refunds_immutable';
  end if;
  if new.status is distinct from old.status and not (old.status = 'PENDING' and new.status in ('COMPLETED', 'FAILED')) then
    raise exception 'Cannot move refund % as % -> % is not an allowed transition', old.id, old.status, new.status
      using errcode = 'check_violation', constraint = 'refunds_status_transition';
  end if;
  new.updated_at := now();
  return new;
end;
$$;

create trigger refunds_guard_update
  before update on payments.refunds
  for each row execute function payments.guard_refund_update();

-- Outcome events (payment.completed, …) already applied, by CloudEvents id,
-- so that a redelivered record is recognised and counted as a duplicate.
create table payments.inbox (
  event_id uuid primary key,
  topic text not null,
  received_at timestamptz not null default now()
);

create index inbox_received_idx on payments.inbox (received_at);

-- The outbox relay listens on this channel, so a new event is published at
-- once rather than at the next poll. One notification per statement is enough.
create function payments.outbox_notify() returns trigger
language plpgsql as $$
begin
  perform pg_notify('payments_outbox', '');
  return null;
end;
$$;

create trigger outbox_notify
  after insert on payments.outbox
  for each statement execute function payments.outbox_notify();
