/**
 * The delivery ledger in PostgreSQL (schema `notifications`): at most one
 * notice per (event id, recipient role), whatever redeliveries, rebalances
 * and crashes happen.
 *
 * A notice is claimed in its own committed statement before it is handed to
 * a sender and marked sent afterwards. Every statement is a single
 * autocommit query: no transaction is ever held open across a send.
 */

import type { Queryable } from "@securepay/shared";
import type { DeliveryStatus, DeliveryStore } from "../domain/delivery_store.ts";

export type { Claim, DeliveryStatus, DeliveryStore } from "../domain/delivery_store.ts";

const ERROR_CHARS_MAX = 500;
const CLAIM_ROUNDS_MAX = 3;

export function postgresDeliveryStore(sql: Queryable): DeliveryStore {
  return {
    async claim(notice, channel, leaseMs) {
      // A row seen as 'failed' after the upsert skipped it was re-claimed and failed again in between;
      // a few rounds settle that race, after which the caller treats it as busy and asks again later.
      for (let round = 0; round < CLAIM_ROUNDS_MAX; round++) {
        const claimId = crypto.randomUUID();
        // Inserts the claim, or takes over a row whose last attempt certainly failed.
        const claimed = await sql<{ attempts: number }[]>`
          insert into notifications.deliveries
            (event_id, recipient, event_type, payment_id, owner_id, channel, status, claim_id)
          values (${notice.eventId}, ${notice.role}, ${notice.eventType}, ${notice.paymentId}, ${notice.ownerId},
            ${channel}, 'sending', ${claimId})
          on conflict (event_id, recipient) do update
            set status = 'sending', claim_id = excluded.claim_id, channel = excluded.channel,
                attempts = notifications.deliveries.attempts + 1, claimed_at = now(), last_error = null
            where notifications.deliveries.status = 'failed'
          returning attempts`;
        if (claimed.length === 1) return { kind: "claimed", claimId, attempts: claimed[0]!.attempts };
        const rows = await sql<{ status: DeliveryStatus; claim_id: string; claimed_for_ms: number }[]>`
          select status, claim_id::text,
            (extract(epoch from (clock_timestamp() - claimed_at)) * 1000)::bigint as claimed_for_ms
          from notifications.deliveries
          where event_id = ${notice.eventId} and recipient = ${notice.role}`;
        const row = rows[0];
        if (!row || row.status === "failed") continue;
        if (row.status === "sent" || row.status === "unknown") return { kind: "settled", status: row.status };
        if (row.claimed_for_ms > leaseMs) return { kind: "abandoned", claimId: row.claim_id };
        return { kind: "busy", claimedForMs: row.claimed_for_ms };
      }
      return { kind: "busy", claimedForMs: 0 };
    },
    async markSent(notice, claimId) {
      // 'unknown' too: a slow sender that finished after its lease was declared lost still knows the truth.
      await sql`
        update notifications.deliveries set status = 'sent', sent_at = now(), last_error = null
        where event_id = ${notice.eventId} and recipient = ${notice.role} and claim_id = ${claimId}
          and status in ('sending', 'unknown')`;
    },
    async markFailed(notice, claimId, error) {
      await sql`
        update notifications.deliveries set status = 'failed', last_error = ${error.slice(0, ERROR_CHARS_MAX)}
        where event_id = ${notice.eventId} and recipient = ${notice.role} and claim_id = ${claimId}
          and status = 'sending'`;
    },
    async markUnknown(notice, claimId, error) {
      const rows = await sql`
        update notifications.deliveries set status = 'unknown', last_error = ${error.slice(0, ERROR_CHARS_MAX)}
        where event_id = ${notice.eventId} and recipient = ${notice.role} and claim_id = ${claimId}
          and status = 'sending'
        returning 1`;
      return rows.length === 1;
    },
    async status(eventId) {
      const rows = await sql<{ recipient: string; status: DeliveryStatus; attempts: number }[]>`
        select recipient, status, attempts from notifications.deliveries
        where event_id = ${eventId} order by recipient`;
      return rows.map((r) => ({ recipient: r.recipient, status: r.status, attempts: r.attempts }));
    },
  };
}
