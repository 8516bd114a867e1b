import * as z from 'zod';
import { type DispatchDeps, drainUser, storeForLater } from './dispatch.ts';
import type { JPushPort } from './jpush.ts';
import {
  type Message,
  POLICY_LIMITS,
  RegistrationId,
  UserId,
} from './message.ts';
import type { DeviceRepository, HistoryRepository } from './ports.ts';
import { type WithdrawDeps, withdrawPush } from './withdraw.ts';

/** What logging in and out needs. */
export interface SessionDeps extends DispatchDeps, WithdrawDeps {
  readonly devices: DeviceRepository;
  readonly history: HistoryRepository;
  readonly jpush: JPushPort;
}

/** Body of `POST /v1/sessions`. */
export const LoginInput = z.strictObject({
  userId: UserId,
  registrationId: RegistrationId,
  platform: z.enum(['android', 'ios'], {
    error: "must be 'android' or 'ios'",
  }),
});
export type LoginInput = z.infer<typeof LoginInput>;

/** Path of `DELETE /v1/sessions/{userId}/{registrationId}`. */
export const LogoutInput = z.strictObject({
  userId: UserId,
  registrationId: RegistrationId,
});
export type LogoutInput = z.infer<typeof LogoutInput>;

/** Why a JPush call failed, as far as JPush said. */
export interface JPushFailure {
  /** JPush's error code (e.g. 7015: the alias already has 10 devices). */
  readonly code?: number;
  readonly message: string;
}

/** What a login did. */
export interface LoginResult {
  /** Stored messages whose delivery started now. */
  readonly drained: number;
  /**
   * Whether JPush bound the alias. A failure does not fail the login: pushes
   * target registration ids, the alias only serves those who push by alias.
   */
  readonly alias: 'bound' | 'failed';
  readonly aliasError?: JPushFailure;
  /** What ending the previous user's session on this device did, if any. */
  readonly replaced?: SessionEndResult;
}

/** What ending one user's session on one device did. */
export interface SessionEndResult {
  readonly userId: string;
  readonly registrationId: string;
  /**
   * `cleared`: the device's alias was blanked; `not-owner`: another user owns
   * the device now, so its alias was left alone; `failed`: JPush refused.
   */
  readonly alias: 'cleared' | 'not-owner' | 'failed';
  readonly aliasError?: JPushFailure;
  /** The user whose alias was bound again after a login raced the clearing. */
  readonly aliasRestoredFor?: string;
  /** JPush msg_ids withdrawn from the device. */
  readonly withdrawn: readonly string[];
  /**
   * Withdrawals JPush refused (mostly: already delivered or unknown), and
   * those it failed to answer, which the outbox retries.
   */
  readonly withdrawFailures: readonly (JPushFailure & { msgId: string })[];
  /** Messages put back in the offline store (no session left). */
  readonly restored: readonly string[];
  /** Sessions the user still has on other devices. */
  readonly sessionsLeft: number;
  /** True when the history scan stopped at its page limit. */
  readonly scanTruncated: boolean;
}

/** The longest life of a message: older history cannot be in flight. */
const MAX_LIFE_MS = POLICY_LIMITS.expiresInSeconds.max * 1000;
const SCAN_PAGE_SIZE = 100;
/** 1000 received messages in 10 days; beyond that the scan stops. */
const SCAN_MAX_PAGES = 10;

/**
 * A user logged in on a device.
 * Primary course: 1. end the session of any other user on the device, as
 * that user's logout would, but keep the alias (it is about to be rebound)
 * 2. record the device's new owner and the session  3. bind the JPush alias
 * (a failure is reported, not thrown)  4. drain the user's offline store,
 * oldest first.
 * The previous owner is read before the new one is written, so a login that
 * dies half-way and is retried still ends the previous user's session.
 */
export const login = async (
  input: LoginInput,
  deps: SessionDeps
): Promise<LoginResult> => {
  const { userId, registrationId, platform } = input;
  const since = deps.clock.now().toISOString();
  const endFor = (previous: string) =>
    endSession(
      previous,
      registrationId,
      {
        clearAlias: false,
        // The previous user's timeline does not name the new user: what is
        // erased with one user must not stay in another's messages.
        why: `another user logged in on device ${registrationId}`,
        storeReason: `${previous} lost device ${registrationId} to another user and has no other session; kept until the next login`,
      },
      deps
    );

  const before = await deps.devices.get(registrationId);
  let replaced: SessionEndResult | undefined;
  if (before && before.userId !== userId)
    replaced = await endFor(before.userId);
  const previous = await deps.devices.put({
    registrationId,
    userId,
    platform,
    since,
  });
  if (
    previous &&
    previous.userId !== userId &&
    previous.userId !== before?.userId
  ) {
    // Another login slipped in between the read and the write.
    replaced = await endFor(previous.userId);
  }
  await deps.sessions.put({ userId, registrationId, platform, since });

  const alias = await tryJPush(() =>
    deps.jpush.updateDevice(registrationId, { alias: userId })
  );
  const drained = await drainUser(userId, deps);
  return {
    drained,
    ...(alias === undefined
      ? { alias: 'bound' as const }
      : { alias: 'failed' as const, aliasError: alias }),
    ...(replaced === undefined ? {} : { replaced }),
  };
};

/**
 * A user is logging out of a device. Idempotent: logging out again, or of a
 * device the user never used, changes nothing more.
 * Primary course: 1. clear the device's alias if the user still owns it
 * 2. end the session and forget the owner  3. withdraw the user's pushes
 * to the device that may still reach it (unacknowledged or unconfirmed)  4. with no session left, put the
 * user's in-flight messages back in the offline store.
 */
export const logout = (
  input: LogoutInput,
  deps: SessionDeps
): Promise<SessionEndResult> =>
  endSession(
    input.userId,
    input.registrationId,
    {
      clearAlias: true,
      why: `${input.userId} logged out of device ${input.registrationId}`,
      storeReason: `${input.userId} logged out of every device; kept until the next login`,
    },
    deps
  );

/**
 * Ends a user's session on a device: the common core of a logout and of an
 * account switch.
 *
 * Write-then-check against a push running at the same time: the session is
 * deleted first, then the pushes are scanned. A push that read the sessions
 * before the delete is either recorded by the time of the scan (and
 * withdrawn here), or recorded after it, and then the push step's own
 * re-read of the sessions (`runPushAttempt`) sees the session gone and
 * withdraws it.
 *
 * The alias is cleared only while the user still owns the device. A login
 * that takes the device between that check and the clearing would lose its
 * alias, so the owner is read again afterwards and a new owner's alias is
 * bound again (a login that writes its owner later binds after us anyway).
 */
const endSession = async (
  userId: string,
  registrationId: string,
  options: { clearAlias: boolean; why: string; storeReason: string },
  deps: SessionDeps
): Promise<SessionEndResult> => {
  let alias: SessionEndResult['alias'] = 'not-owner';
  let aliasError: JPushFailure | undefined;
  if (options.clearAlias) {
    const owner = await deps.devices.get(registrationId);
    if (owner?.userId === userId) {
      aliasError = await tryJPush(() =>
        deps.jpush.updateDevice(registrationId, { alias: '' })
      );
      alias = aliasError === undefined ? 'cleared' : 'failed';
    }
  }

  await deps.sessions.delete(userId, registrationId);
  await deps.devices.deleteIfOwner(registrationId, userId);

  let aliasRestoredFor: string | undefined;
  if (alias !== 'not-owner') {
    const owner = await deps.devices.get(registrationId);
    if (owner && owner.userId !== userId) {
      const failed = await tryJPush(() =>
        deps.jpush.updateDevice(registrationId, { alias: owner.userId })
      );
      if (failed === undefined) aliasRestoredFor = owner.userId;
    }
  }

  const { messages: recent, truncated } = await recentMessages(userId, deps);
  const now = deps.clock.now().getTime();
  const inFlight = recent.filter(isInFlight);
  const withdrawn: string[] = [];
  const withdrawFailures: (JPushFailure & { msgId: string })[] = [];
  for (const message of recent) {
    if (!isInFlight(message) && !mayBeWaiting(message, now, registrationId)) {
      continue;
    }
    for (const key of pushesTo(message, registrationId)) {
      const result = await withdrawPush(
        message,
        key,
        options.why,
        deps,
        registrationId
      );
      if (result.outcome === 'withdrawn' && result.msgId !== undefined) {
        withdrawn.push(result.msgId);
      } else if (
        result.outcome === 'refused' ||
        result.outcome === 'retrying'
      ) {
        withdrawFailures.push({
          msgId: result.msgId ?? '(unanswered push)',
          ...(result.code === undefined ? {} : { code: result.code }),
          message:
            result.outcome === 'retrying'
              ? `${result.reason ?? 'JPush failed'}; retried until JPush confirms`
              : (result.reason ?? 'JPush refused'),
        });
      }
    }
  }

  const sessionsLeft = (await deps.sessions.listByUser(userId)).length;
  const restored: string[] = [];
  if (sessionsLeft === 0) {
    // Every in-flight message, not only those pushed to this device: with no
    // session none can be delivered, and a running execution would go on to
    // escalate it. The new delivery number ends that execution.
    for (const message of inFlight) {
      await storeForLater(
        message,
        message.delivery + 1,
        options.storeReason,
        deps
      );
      restored.push(message.messageId);
    }
  }

  return {
    userId,
    registrationId,
    alias,
    ...(aliasError === undefined ? {} : { aliasError }),
    ...(aliasRestoredFor === undefined ? {} : { aliasRestoredFor }),
    withdrawn,
    withdrawFailures,
    restored,
    sessionsLeft,
    scanTruncated: truncated,
  };
};

/**
 * The messages the user received lately, oldest first. Only history younger
 * than the longest message life is read, at most {@link SCAN_MAX_PAGES} pages.
 */
export const recentMessages = async (
  userId: string,
  deps: Pick<SessionDeps, 'history' | 'messages' | 'clock'>
): Promise<{ messages: Message[]; truncated: boolean }> => {
  const oldest = deps.clock.now().getTime() - MAX_LIFE_MS;
  const ids: string[] = [];
  let cursor: string | undefined;
  let truncated = false;
  for (let page = 0; ; page++) {
    if (page === SCAN_MAX_PAGES) {
      truncated = true;
      break;
    }
    const result = await deps.history.page(userId, SCAN_PAGE_SIZE, cursor);
    const young = result.entries.filter(
      (e) => Date.parse(e.createdAt) >= oldest
    );
    for (const entry of young) {
      if (entry.direction === 'in') ids.push(entry.messageId);
    }
    if (young.length < result.entries.length || !result.nextCursor) break;
    cursor = result.nextCursor;
  }
  const unique = [...new Set(ids)];
  const messages =
    unique.length === 0 ? [] : await deps.messages.getMany(unique);
  return {
    messages: messages
      .filter((m) => m.to === userId)
      .sort((a, b) =>
        `${a.createdAt}#${a.messageId}`.localeCompare(
          `${b.createdAt}#${b.messageId}`
        )
      ),
    truncated,
  };
};

/** Still being delivered: `sending` or `received`, no ACK. */
const isInFlight = (m: Message): boolean =>
  (m.status === 'sending' || m.status === 'received') &&
  m.ackedAt === undefined;

/**
 * Whether the pushes of a message that is no longer in flight may still
 * wait in JPush for a device (queued while it is offline) or sit on it
 * unacknowledged. A push lives as long as its message (its time_to_live is
 * the message's remaining life). Such pushes are left over when the message
 * was escalated, expired or failed, or went back to the offline store
 * because a push step found no session, before the session ended, or when
 * the user acknowledged it on another device while this one was offline;
 * withdrawing them keeps them from the next user of the device. An
 * acknowledged message whose delivery to this device JPush confirmed is left
 * alone: withdrawing it would also take it off the user's other devices.
 */
const mayBeWaiting = (
  m: Message,
  now: number,
  registrationId: string
): boolean =>
  Date.parse(m.expiresAt) > now &&
  (m.ackedAt === undefined || m.deliveredTo[registrationId] === undefined);

/**
 * The keys of a message's pushes that targeted a device and may still be
 * on their way: accepted by JPush, or recorded and never answered (their
 * answer was lost, so JPush may have acted), and not withdrawn before.
 */
const pushesTo = (message: Message, registrationId: string): string[] =>
  Object.entries(message.pushes)
    .filter(([, p]) => p.registrationIds.includes(registrationId))
    .filter(
      ([, p]) => p.state !== 'not-delivered' && p.withdrawnAt === undefined
    )
    .map(([key]) => key);

/**
 * Runs a JPush call whose failure must not stop the caller.
 * @returns undefined on success, else what went wrong
 */
export const tryJPush = async (
  call: () => Promise<unknown>
): Promise<JPushFailure | undefined> => {
  try {
    await call();
    return undefined;
  } catch (error) {
    if (!(error instanceof Error)) return { message: String(error) };
    const code = (error as { code?: unknown }).code;
    return {
      ...(typeof code === 'number' ? { code } : {}),
      message: error.message,
    };
  }
};
