/**
 * The classic consumer-group protocol (JoinGroup, SyncGroup, Heartbeat,
 * LeaveGroup), following Kafka's GroupCoordinator state machine:
 * Empty → PreparingRebalance → CompletingRebalance → Stable. Membership
 * lives in memory only; after a broker restart members are told
 * UNKNOWN_MEMBER_ID and rejoin, while committed offsets persist elsewhere.
 */

import { ErrorCode } from "./_protocol.ts";

export type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable";

export interface GroupOptions {
  /** Kafka's group.initial.rebalance.delay.ms: wait for more members before the first generation. */
  initialRebalanceDelayMs: number;
  /** Kafka's group.min.session.timeout.ms / group.max.session.timeout.ms. */
  sessionTimeoutMinMs: number;
  sessionTimeoutMaxMs: number;
  /** Kafka's group.max.size. */
  membersMax: number;
}

export interface GroupProtocol {
  name: string;
  metadata: Uint8Array;
}

export interface JoinRequest {
  groupId: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string;
  protocols: GroupProtocol[];
  clientId: string;
  clientHost: string;
  /** JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED and an id to rejoin with. */
  requireKnownMemberId: boolean;
}

export interface JoinResult {
  errorCode: ErrorCode;
  generationId: number;
  protocolName: string;
  leaderId: string;
  memberId: string;
  members: { memberId: string; groupInstanceId: string | null; metadata: Uint8Array }[];
}

export interface SyncResult {
  errorCode: ErrorCode;
  assignment: Uint8Array;
}

export interface MemberDescription {
  memberId: string;
  clientId: string;
  clientHost: string;
  metadata: Uint8Array;
  assignment: Uint8Array;
}

export interface GroupDescription {
  state: GroupState | "Dead";
  protocolType: string;
  protocolName: string;
  members: MemberDescription[];
}

const EMPTY = new Uint8Array(0);

type Timer = ReturnType<typeof setTimeout>;
/** Longer delays overflow a timer and fire at once. */
const TIMER_MS_MAX = 0x7fffffff;

interface Member {
  id: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: GroupProtocol[];
  assignment: Uint8Array;
  joinWaiter?: (result: JoinResult) => void;
  syncWaiter?: (result: SyncResult) => void;
  sessionTimer?: Timer;
}

interface Group {
  id: string;
  state: GroupState;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leaderId: string | null;
  members: Map<string, Member>;
  /** Ids handed out with MEMBER_ID_REQUIRED, each expiring after its session timeout. */
  pendingMembers: Map<string, Timer>;
  rebalanceTimer?: Timer;
  initialDelayRunning: boolean;
}

export class GroupCoordinator {
  #groups = new Map<string, Group>();
  #options: GroupOptions;
  #closed = false;

  constructor(options: GroupOptions) {
    this.#options = options;
  }

  join(request: JoinRequest): Promise<JoinResult> {
    const failed = (errorCode: ErrorCode, memberId = request.memberId): Promise<JoinResult> =>
      Promise.resolve({ errorCode, generationId: -1, protocolName: "", leaderId: "", memberId, members: [] });
    if (this.#closed) return failed(ErrorCode.CoordinatorNotAvailable);
    if (request.groupId === "") return failed(ErrorCode.InvalidGroupId);
    if (
      request.sessionTimeoutMs < this.#options.sessionTimeoutMinMs ||
      request.sessionTimeoutMs > this.#options.sessionTimeoutMaxMs
    ) {
      return failed(ErrorCode.InvalidSessionTimeout);
    }
    let group = this.#groups.get(request.groupId);
    if (group === undefined) {
      if (request.memberId !== "") return failed(ErrorCode.UnknownMemberId);
      group = {
        id: request.groupId,
        state: "Empty",
        generationId: 0,
        protocolType: null,
        protocolName: null,
        leaderId: null,
        members: new Map(),
        pendingMembers: new Map(),
        initialDelayRunning: false,
      };
      this.#groups.set(group.id, group);
    }
    if (!this.#protocolsFit(group, request)) return failed(ErrorCode.InconsistentGroupProtocol);

    if (request.memberId === "" || group.pendingMembers.has(request.memberId)) {
      if (group.members.size >= this.#options.membersMax) return failed(ErrorCode.GroupMaxSizeReached);
      if (request.memberId === "" && request.requireKnownMemberId) {
        const memberId = `${request.clientId}-${crypto.randomUUID()}`;
        const timer = setTimeout(() => {
          group.pendingMembers.delete(memberId);
          this.#tryCompleteJoin(group);
          this.#dropIfUnused(group);
        }, request.sessionTimeoutMs);
        group.pendingMembers.set(memberId, timer);
        return failed(ErrorCode.MemberIdRequired, memberId);
      }
      const memberId = request.memberId === "" ? `${request.clientId}-${crypto.randomUUID()}` : request.memberId;
      clearTimeout(group.pendingMembers.get(memberId));
      group.pendingMembers.delete(memberId);
      return this.#addMemberAndRebalance(group, memberId, request);
    }

    const member = group.members.get(request.memberId);
    if (member === undefined) return failed(ErrorCode.UnknownMemberId);
    switch (group.state) {
      case "PreparingRebalance":
        return this.#updateMemberAndRebalance(group, member, request);
      case "CompletingRebalance":
        if (sameProtocols(member.protocols, request.protocols)) {
          // A member that lost the join answer gets the same generation again.
          return Promise.resolve(this.#joinResult(group, member));
        }
        return this.#updateMemberAndRebalance(group, member, request);
      case "Stable":
        if (member.id === group.leaderId || !sameProtocols(member.protocols, request.protocols)) {
          return this.#updateMemberAndRebalance(group, member, request);
        }
        return Promise.resolve(this.#joinResult(group, member));
      case "Empty":
        return failed(ErrorCode.UnknownMemberId);
    }
  }

  #protocolsFit(group: Group, request: JoinRequest): boolean {
    if (request.protocolType === "" || request.protocols.length === 0) return false;
    if (group.members.size === 0) return true;
    if (group.protocolType !== request.protocolType) return false;
    // Some protocol must stay supported by every member, this one included.
    const names = new Set(request.protocols.map((p) => p.name));
    for (const member of group.members.values()) {
      if (member.id === request.memberId) continue;
      for (const name of [...names]) if (!member.protocols.some((p) => p.name === name)) names.delete(name);
    }
    return names.size > 0;
  }

  #addMemberAndRebalance(group: Group, memberId: string, request: JoinRequest): Promise<JoinResult> {
    const member: Member = {
      id: memberId,
      groupInstanceId: request.groupInstanceId,
      clientId: request.clientId,
      clientHost: request.clientHost,
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs: request.rebalanceTimeoutMs,
      protocols: request.protocols,
      assignment: EMPTY,
    };
    if (group.members.size === 0) group.protocolType = request.protocolType;
    group.members.set(memberId, member);
    if (group.leaderId === null) group.leaderId = memberId;
    const result = new Promise<JoinResult>((resolve) => member.joinWaiter = resolve);
    this.#prepareRebalance(group);
    return result;
  }

  #updateMemberAndRebalance(group: Group, member: Member, request: JoinRequest): Promise<JoinResult> {
    member.protocols = request.protocols;
    member.sessionTimeoutMs = request.sessionTimeoutMs;
    member.rebalanceTimeoutMs = request.rebalanceTimeoutMs;
    member.joinWaiter?.(this.#failedJoin(member.id, ErrorCode.RebalanceInProgress));
    const result = new Promise<JoinResult>((resolve) => member.joinWaiter = resolve);
    if (group.state === "PreparingRebalance") this.#tryCompleteJoin(group);
    else this.#prepareRebalance(group);
    return result;
  }

  #failedJoin(memberId: string, errorCode: ErrorCode): JoinResult {
    return { errorCode, generationId: -1, protocolName: "", leaderId: "", memberId, members: [] };
  }

  #prepareRebalance(group: Group): void {
    if (group.state === "CompletingRebalance") {
      // Members parked in SyncGroup must rejoin; their assignment is void.
      for (const member of group.members.values()) {
        member.assignment = EMPTY;
        member.syncWaiter?.({ errorCode: ErrorCode.RebalanceInProgress, assignment: EMPTY });
        member.syncWaiter = undefined;
      }
    }
    const wasEmpty = group.state === "Empty";
    group.state = "PreparingRebalance";
    clearTimeout(group.rebalanceTimer);
    if (wasEmpty && this.#options.initialRebalanceDelayMs > 0) {
      group.initialDelayRunning = true;
      group.rebalanceTimer = setTimeout(() => {
        group.initialDelayRunning = false;
        this.#completeJoin(group);
      }, this.#options.initialRebalanceDelayMs);
      return;
    }
    let rebalanceTimeoutMs = 0;
    for (const member of group.members.values()) {
      rebalanceTimeoutMs = Math.max(rebalanceTimeoutMs, member.rebalanceTimeoutMs);
    }
    // Members that do not rejoin within the rebalance timeout are dropped. The
    // client chooses the timeout, so it is clamped to what a timer can hold.
    group.rebalanceTimer = setTimeout(
      () => this.#completeJoin(group),
      Math.min(Math.max(rebalanceTimeoutMs, 0), TIMER_MS_MAX),
    );
    this.#tryCompleteJoin(group);
  }

  #tryCompleteJoin(group: Group): void {
    if (group.state !== "PreparingRebalance" || group.initialDelayRunning) return;
    if (group.pendingMembers.size > 0) return;
    for (const member of group.members.values()) if (member.joinWaiter === undefined) return;
    this.#completeJoin(group);
  }

  #completeJoin(group: Group): void {
    if (group.state !== "PreparingRebalance") return;
    clearTimeout(group.rebalanceTimer);
    group.rebalanceTimer = undefined;
    group.initialDelayRunning = false;
    for (const member of [...group.members.values()]) {
      if (member.joinWaiter === undefined) this.#removeMember(group, member, false);
    }
    group.generationId++;
    if (group.members.size === 0) {
      group.state = "Empty";
      group.protocolName = null;
      group.leaderId = null;
      this.#dropIfUnused(group);
      return;
    }
    group.protocolName = selectProtocol([...group.members.values()]);
    if (group.leaderId === null || !group.members.has(group.leaderId)) {
      group.leaderId = group.members.keys().next().value ?? null;
    }
    group.state = "CompletingRebalance";
    for (const member of group.members.values()) {
      const waiter = member.joinWaiter;
      member.joinWaiter = undefined;
      this.#scheduleSessionExpiry(group, member);
      waiter?.(this.#joinResult(group, member));
    }
  }

  #joinResult(group: Group, member: Member): JoinResult {
    const isLeader = member.id === group.leaderId;
    const protocolName = group.protocolName ?? "";
    return {
      errorCode: ErrorCode.None,
      generationId: group.generationId,
      protocolName,
      leaderId: group.leaderId ?? "",
      memberId: member.id,
      members: isLeader
        ? [...group.members.values()].map((m) => ({
          memberId: m.id,
          groupInstanceId: m.groupInstanceId,
          metadata: m.protocols.find((p) => p.name === protocolName)?.metadata ?? EMPTY,
        }))
        : [],
    };
  }

  #scheduleSessionExpiry(group: Group, member: Member): void {
    clearTimeout(member.sessionTimer);
    member.sessionTimer = setTimeout(() => {
      member.sessionTimer = undefined;
      // A member parked in JoinGroup is bounded by the rebalance timeout instead.
      if (member.joinWaiter !== undefined) return;
      if (group.members.get(member.id) === member) this.#removeMember(group, member, true);
    }, member.sessionTimeoutMs);
  }

  #removeMember(group: Group, member: Member, rebalance: boolean): void {
    clearTimeout(member.sessionTimer);
    member.joinWaiter?.(this.#failedJoin(member.id, ErrorCode.UnknownMemberId));
    member.syncWaiter?.({ errorCode: ErrorCode.UnknownMemberId, assignment: EMPTY });
    member.joinWaiter = undefined;
    member.syncWaiter = undefined;
    group.members.delete(member.id);
    if (group.leaderId === member.id) group.leaderId = group.members.keys().next().value ?? null;
    if (!rebalance) return;
    if (group.state === "Stable" || group.state === "CompletingRebalance") this.#prepareRebalance(group);
    else if (group.state === "PreparingRebalance") this.#tryCompleteJoin(group);
  }

  /** Forgets an Empty group with nothing pending; committed offsets are kept by the offset store. */
  #dropIfUnused(group: Group): void {
    if (group.state === "Empty" && group.members.size === 0 && group.pendingMembers.size === 0) {
      clearTimeout(group.rebalanceTimer);
      if (this.#groups.get(group.id) === group) this.#groups.delete(group.id);
    }
  }

  sync(
    groupId: string,
    generationId: number,
    memberId: string,
    assignments: { memberId: string; assignment: Uint8Array }[],
  ): Promise<SyncResult> {
    const failed = (errorCode: ErrorCode) => Promise.resolve({ errorCode, assignment: EMPTY });
    if (this.#closed) return failed(ErrorCode.CoordinatorNotAvailable);
    const group = this.#groups.get(groupId);
    const member = group?.members.get(memberId);
    if (group === undefined || member === undefined) return failed(ErrorCode.UnknownMemberId);
    if (generationId !== group.generationId) return failed(ErrorCode.IllegalGeneration);
    switch (group.state) {
      case "Empty":
        return failed(ErrorCode.UnknownMemberId);
      case "PreparingRebalance":
        return failed(ErrorCode.RebalanceInProgress);
      case "Stable":
        this.#scheduleSessionExpiry(group, member);
        return Promise.resolve({ errorCode: ErrorCode.None, assignment: member.assignment });
      case "CompletingRebalance": {
        this.#scheduleSessionExpiry(group, member);
        member.syncWaiter?.({ errorCode: ErrorCode.RebalanceInProgress, assignment: EMPTY });
        const result = new Promise<SyncResult>((resolve) => member.syncWaiter = resolve);
        if (memberId === group.leaderId) {
          const byMember = new Map(assignments.map((a) => [a.memberId, a.assignment]));
          group.state = "Stable";
          for (const each of group.members.values()) {
            // Members the leader left out get empty bytes, never null.
            each.assignment = byMember.get(each.id) ?? EMPTY;
            each.syncWaiter?.({ errorCode: ErrorCode.None, assignment: each.assignment });
            each.syncWaiter = undefined;
          }
        }
        return result;
      }
    }
  }

  heartbeat(groupId: string, generationId: number, memberId: string): ErrorCode {
    if (this.#closed) return ErrorCode.CoordinatorNotAvailable;
    const group = this.#groups.get(groupId);
    const member = group?.members.get(memberId);
    if (group === undefined || member === undefined) return ErrorCode.UnknownMemberId;
    if (generationId !== group.generationId) return ErrorCode.IllegalGeneration;
    switch (group.state) {
      case "Empty":
        return ErrorCode.UnknownMemberId;
      case "PreparingRebalance":
        this.#scheduleSessionExpiry(group, member);
        return ErrorCode.RebalanceInProgress;
      case "CompletingRebalance":
      case "Stable":
        this.#scheduleSessionExpiry(group, member);
        return ErrorCode.None;
    }
  }

  /** Removes members; returns the error per member id (UNKNOWN_MEMBER_ID for strangers). */
  leave(groupId: string, memberIds: string[]): ErrorCode[] {
    const group = this.#groups.get(groupId);
    return memberIds.map((memberId) => {
      if (this.#closed) return ErrorCode.CoordinatorNotAvailable;
      const member = group?.members.get(memberId);
      if (group === undefined || member === undefined) return ErrorCode.UnknownMemberId;
      this.#removeMember(group, member, true);
      return ErrorCode.None;
    });
  }

  /** Kafka's validateOffsetCommit; a missing group accepts only generation-less commits. */
  validateCommit(groupId: string, generationId: number, memberId: string): ErrorCode {
    if (this.#closed) return ErrorCode.CoordinatorNotAvailable;
    const group = this.#groups.get(groupId);
    if (group === undefined || group.state === "Empty") {
      return generationId < 0 ? ErrorCode.None : ErrorCode.UnknownMemberId;
    }
    const member = group.members.get(memberId);
    if (member === undefined) return ErrorCode.UnknownMemberId;
    if (generationId !== group.generationId) return ErrorCode.IllegalGeneration;
    if (group.state === "CompletingRebalance") return ErrorCode.RebalanceInProgress;
    this.#scheduleSessionExpiry(group, member);
    return ErrorCode.None;
  }

  describe(groupId: string): GroupDescription {
    const group = this.#groups.get(groupId);
    if (group === undefined) return { state: "Dead", protocolType: "", protocolName: "", members: [] };
    return {
      state: group.state,
      protocolType: group.protocolType ?? "",
      protocolName: group.protocolName ?? "",
      members: [...group.members.values()].map((m) => ({
        memberId: m.id,
        clientId: m.clientId,
        clientHost: m.clientHost,
        metadata: m.protocols.find((p) => p.name === group.protocolName)?.metadata ?? EMPTY,
        assignment: m.assignment,
      })),
    };
  }

  /** Stops every timer and answers every parked request, so the broker can exit cleanly. */
  close(): void {
    this.#closed = true;
    for (const group of this.#groups.values()) {
      clearTimeout(group.rebalanceTimer);
      for (const timer of group.pendingMembers.values()) clearTimeout(timer);
      for (const member of group.members.values()) {
        clearTimeout(member.sessionTimer);
        member.joinWaiter?.(this.#failedJoin(member.id, ErrorCode.CoordinatorNotAvailable));
        member.syncWaiter?.({ errorCode: ErrorCode.CoordinatorNotAvailable, assignment: EMPTY });
      }
    }
    this.#groups.clear();
  }
}

function sameProtocols(a: GroupProtocol[], b: GroupProtocol[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((p, i) => p.name === b[i]!.name && bytesEqual(p.metadata, b[i]!.metadata));
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Each member votes for its most preferred protocol that all members support. */
function selectProtocol(members: Member[]): string {
  const candidates = members[0]!.protocols.map((p) => p.name).filter((name) =>
    members.every((m) => m.protocols.some((p) => p.name === name))
  );
  const votes = new Map<string, number>();
  for (const member of members) {
    const choice = member.protocols.find((p) => candidates.includes(p.name))?.name;
    if (choice !== undefined) votes.set(choice, (votes.get(choice) ?? 0) + 1);
  }
  let best = candidates[0] ?? "";
  for (const name of candidates) if ((votes.get(name) ?? 0) > (votes.get(best) ?? 0)) best = name;
  return best;
}
