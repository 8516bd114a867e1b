/**
 * The app's ACKs from `autoAck` devices (not for a notification that came
 * through a vendor's channel) and from iOS devices with a Notification
 * Service Extension (`extension`, for a notification with
 * `mutable-content`): after the device's delay, a POST of
 * `{"token", "registrationId"}` (the push's ACK token and the device's own
 * registration id, as a real app sends them) to
 * `${ackBaseUrl}/v1/messages/{messageId}/ack`.
 */

/** Schedules ACKs and cancels them at shutdown. */
export interface AckSender {
  /**
   * POST the ACK after `delayMs`.
   * @param messageId the push's `extras.messageId`
   * @param token its `extras.ackToken`
   * @param registrationId the device that got the push
   * @param delayMs the device's ACK delay
   */
  schedule(
    messageId: string,
    token: unknown,
    registrationId: string,
    delayMs: number
  ): void;
  /** Cancels pending ACKs and aborts those in flight. */
  shutdown(): Promise<void>;
}

/**
 * Build an ACK sender.
 * @param ackBaseUrl base URL of the system's API
 */
export const createAckSender = (ackBaseUrl: string): AckSender => {
  const timers = new Set<NodeJS.Timeout>();
  const aborts = new Set<AbortController>();
  const inFlight = new Set<Promise<void>>();

  const post = (
    messageId: string,
    token: unknown,
    registrationId: string
  ): void => {
    const controller = new AbortController();
    aborts.add(controller);
    const url = `${ackBaseUrl.replace(/\/+$/, '')}/v1/messages/${encodeURIComponent(messageId)}/ack`;
    const request = fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, registrationId }),
      signal: controller.signal,
    })
      .then(async (response) => {
        await response.arrayBuffer();
        if (!response.ok) {
          console.warn(`[jpush-simulator] ACK ${url} → ${response.status}`);
        }
      })
      .catch((error: unknown) => {
        if (!controller.signal.aborted) {
          console.warn(`[jpush-simulator] ACK ${url} failed: ${String(error)}`);
        }
      })
      .finally(() => {
        aborts.delete(controller);
        inFlight.delete(request);
      });
    inFlight.add(request);
  };

  return {
    schedule: (messageId, token, registrationId, delayMs) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        post(messageId, token, registrationId);
      }, delayMs);
      timers.add(timer);
    },
    shutdown: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const controller of aborts) controller.abort();
      await Promise.allSettled([...inFlight]);
    },
  };
};
