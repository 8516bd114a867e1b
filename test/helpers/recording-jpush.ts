import type {
  DeviceInfo,
  JPushPort,
  PushPayload,
  PushResult,
  ReceivedDetail,
} from '../../functions/domain/jpush.ts';

/** A scripted answer: a value, or an error to throw. */
type Answer<T> = T | Error;

/**
 * A JPush port that records every call and answers from a script. Pushes get
 * 17-digit msg_ids (above Number.MAX_SAFE_INTEGER, like JPush's) unless a
 * test queues other answers.
 */
export class RecordingJPush implements JPushPort {
  readonly pushes: PushPayload[] = [];
  readonly cidRequests: number[] = [];
  readonly statusCalls: Array<{
    msgId: string;
    registrationIds: readonly string[];
    date?: string;
  }> = [];
  readonly receivedDetailCalls: Array<readonly string[]> = [];
  /** Answers of the next push calls, in order; then a fresh msg_id. */
  readonly pushAnswers: Answer<PushResult>[] = [];
  /** Answers of the next messageStatus calls, in order. */
  readonly statusAnswers: Answer<Record<string, number>>[] = [];
  /** Answers of the next receivedDetail calls, in order. */
  readonly receivedDetailAnswers: Answer<ReceivedDetail[]>[] = [];
  private nextMsgId = 18_100_528_814_460_569n;
  private nextCid = 1;

  async push(payload: PushPayload): Promise<PushResult> {
    this.pushes.push(structuredClone(payload));
    const answer = this.pushAnswers.shift();
    if (answer instanceof Error) throw answer;
    if (answer) return answer;
    const msgId = String(this.nextMsgId);
    this.nextMsgId += 1n;
    return { msgId, sendno: '0' };
  }

  async getCids(count = 1): Promise<string[]> {
    this.cidRequests.push(count);
    return Array.from(
      { length: count },
      () => `8103a4c628a0b98974ec1949-cid-${this.nextCid++}`
    );
  }

  async withdraw(): Promise<void> {}

  async messageStatus(
    msgId: string,
    registrationIds: readonly string[],
    date?: string
  ): Promise<Record<string, number>> {
    this.statusCalls.push({
      msgId,
      registrationIds: [...registrationIds],
      ...(date === undefined ? {} : { date }),
    });
    const answer = this.statusAnswers.shift();
    if (answer instanceof Error) throw answer;
    return answer ?? {};
  }

  async receivedDetail(msgIds: readonly string[]): Promise<ReceivedDetail[]> {
    this.receivedDetailCalls.push([...msgIds]);
    const answer = this.receivedDetailAnswers.shift();
    if (answer instanceof Error) throw answer;
    return answer ?? [];
  }

  async getDevice(): Promise<DeviceInfo> {
    return { alias: null, tags: [], mobile: null };
  }

  async updateDevice(): Promise<void> {}

  async getAliasDevices(): Promise<string[]> {
    return [];
  }

  async deleteAlias(): Promise<void> {}

  async removeDevicesFromAlias(): Promise<void> {}
}
