/** The authenticated caller as every service sees it. */

export const ROLES = ["USER", "ADMIN", "SUPPORT", "AUDITOR"] as const;
export type Role = typeof ROLES[number];

export interface Principal {
  /** The JWT `sub`. */
  readonly subject: string;
  /** Never empty: a token without roles is a USER. */
  readonly roles: readonly Role[];
}

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

export function hasRole(principal: Principal, ...roles: Role[]): boolean {
  return principal.roles.some((r) => roles.includes(r));
}
