-- Exactly-once application of payment events: the inbox remembers every
-- event applied, the outbox holds the outcomes until a relay publishes them.
-- Applied with the search path set to the accounts schema.

-- One row per applied event, written in the same transaction as its effect.
create table accounts.inbox (
  event_id uuid primary key,
  topic text not null check (char_length(topic) between 1 and 255),
  -- A payment is applied once per topic (once, and refunded once), even if it
  -- were announced again under another event id.
  payment_id uuid not null,
  processed_at timestamptz not null default now(),
  constraint inbox_topic_payment unique (topic, payment_id)
);

-- Outcome events wait here until a relay publishes them and sets sent_at
-- (the same shape as payments.outbox, so that one relay serves both).
create table accounts.outbox (
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

create index outbox_unsent_idx on accounts.outbox (id) where sent_at is null;

-- Wakes the relay as soon as a batch of outcomes commits (NOTIFY is delivered
-- at commit); the relay still polls in case a notification is missed.
create function accounts.notify_outbox() returns trigger
language plpgsql as $$
begin
  perform pg_notify('accounts_outbox', '');
  return null;
end;
$$;

create trigger outbox_notify
  after insert on accounts.outbox
  for each statement execute function accounts.notify_outbox();
