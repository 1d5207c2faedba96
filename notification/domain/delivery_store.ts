/**
 * The port of the delivery ledger: at most one notice per (event id,
 * recipient role). See `store/deliveries.ts` for the PostgreSQL adapter.
 */

import type { Notification } from "./notification.ts";

export type DeliveryStatus = "sending" | "sent" | "failed" | "unknown";

/** The outcome of a claim. */
export type Claim =
  /** This caller owns the notice and must send it, then settle it. */
  | { readonly kind: "claimed"; readonly claimId: string; readonly attempts: number }
  /** Someone already sent it, or lost track of it: never send again. */
  | { readonly kind: "settled"; readonly status: "sent" | "unknown" }
  /** Another claimer is sending it right now; ask again later. */
  | { readonly kind: "busy"; readonly claimedForMs: number }
  /** A claim older than the lease: its owner died mid-send. */
  | { readonly kind: "abandoned"; readonly claimId: string };

export interface DeliveryStore {
  claim(notice: Notification, channel: string, leaseMs: number): Promise<Claim>;
  markSent(notice: Notification, claimId: string): Promise<void>;
  /** The notice certainly did not leave: a later redelivery may claim it again. */
  markFailed(notice: Notification, claimId: string, error: string): Promise<void>;
  /**
   * The notice may have left: it will never be sent again. Returns true for
   * the one caller that moved it to 'unknown', so it is counted once.
   */
  markUnknown(notice: Notification, claimId: string, error: string): Promise<boolean>;
  status(eventId: string): Promise<{ recipient: string; status: DeliveryStatus; attempts: number }[]>;
}
