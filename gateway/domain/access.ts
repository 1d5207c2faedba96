/**
 * Who may do what (DESIGN.md §5), as pure functions of the principal and
 * the resource. Reads of things a caller may not see answer not_found at
 * the route, so that others' ids look exactly like missing ones.
 */

import { hasRole, type Principal } from "@securepay/shared";
import type { Account, Payment } from "./ports.ts";

/** Staff who may read every account and payment. */
export function isStaff(principal: Principal): boolean {
  return hasRole(principal, "SUPPORT", "AUDITOR", "ADMIN");
}

export function canCreateAccountFor(principal: Principal, ownerId: string): boolean {
  if (hasRole(principal, "ADMIN")) return true;
  return ownerId === principal.subject && hasRole(principal, "USER");
}

export function canListAccountsOf(principal: Principal, ownerId: string | undefined): boolean {
  return isStaff(principal) || ownerId === principal.subject;
}

export function canReadAccount(principal: Principal, account: Account): boolean {
  return account.ownerId === principal.subject || isStaff(principal);
}

/** Ledgers are for the owner and for those who audit, not for support. */
export function canReadLedger(principal: Principal, account: Account): boolean {
  return account.ownerId === principal.subject || hasRole(principal, "AUDITOR", "ADMIN");
}

/** Funds enter the system only through an ADMIN's deposit. */
export function canDeposit(principal: Principal): boolean {
  return hasRole(principal, "ADMIN");
}

/** Only the owner of an account may pay from it. */
export function canPayFrom(principal: Principal, account: Account): boolean {
  return account.ownerId === principal.subject;
}

/** Refunds are for staff who handle disputes, never for the payer or payee. */
export function canRefund(principal: Principal, payment?: Payment): boolean {
  if (!hasRole(principal, "ADMIN", "SUPPORT")) return false;
  return payment === undefined ||
    (payment.payerOwnerId !== principal.subject && payment.payeeOwnerId !== principal.subject);
}

export function canReadPayment(principal: Principal, payment: Payment): boolean {
  return payment.payerOwnerId === principal.subject || payment.payeeOwnerId === principal.subject ||
    isStaff(principal);
}
