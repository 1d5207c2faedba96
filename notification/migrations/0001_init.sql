-- One row per notice: (event id, recipient role). The row is claimed
-- ('sending') and committed before the notice leaves, so a redelivered event
-- finds it and never sends twice.
create table deliveries (
  event_id uuid not null,
  recipient text not null check (recipient in ('payer', 'payee')),
  event_type text not null,
  payment_id uuid not null,
  owner_id text not null check (char_length(owner_id) between 1 and 255),
  channel text not null,
  -- sending: claimed, the sender is at work (or died at work);
  -- sent: the channel accepted it; failed: it certainly did not leave and may be claimed again;
  -- unknown: the sender died or lost track mid-send; never sent again (at most once).
  status text not null check (status in ('sending', 'sent', 'failed', 'unknown')),
  claim_id uuid not null,
  attempts integer not null default 1 check (attempts between 1 and 1000000),
  claimed_at timestamptz not null default now(),
  sent_at timestamptz,
  last_error text check (char_length(last_error) <= 500),
  primary key (event_id, recipient)
);

create index deliveries_unsettled on deliveries (claimed_at) where status in ('sending', 'unknown');
