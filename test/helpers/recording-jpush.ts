import {
  type DeviceInfo,
  type JPushPort,
  JPushUnknownOutcomeError,
  type PushPayload,
  type PushResult,
  type ReceivedDetail,
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
  /** The msg_ids of the withdraw calls, in order (failed ones too). */
  readonly withdrawn: string[] = [];
  /** Answers of the next withdraw calls: an error to throw, or undefined. */
  readonly withdrawAnswers: (Error | undefined)[] = [];
  /**
   * When true, a push whose cid JPush has answered before gets that first
   * answer again and pushes nothing new, as JPush's `cid` promises.
   * @default false: every push gets a fresh msg_id
   */
  idempotentCids = false;
  /**
   * The next this-many pushes reach JPush (they get a msg_id, kept by cid)
   * but their answer is lost: they throw {@link JPushUnknownOutcomeError}.
   */
  loseAnswers = 0;
  /** The first answer JPush gave to each cid. */
  readonly resultsByCid = new Map<string, PushResult>();
  private nextMsgId = 18_100_528_814_460_569n;
  private nextCid = 1;

  async push(payload: PushPayload): Promise<PushResult> {
    this.pushes.push(structuredClone(payload));
    const known =
      payload.cid === undefined
        ? undefined
        : this.resultsByCid.get(payload.cid);
    if (this.idempotentCids && known) return known;
    if (this.loseAnswers > 0) {
      this.loseAnswers -= 1;
      this.#remember(payload, this.#fresh());
      throw new JPushUnknownOutcomeError(
        'JPush push outcome unknown: the answer was lost (test)'
      );
    }
    const answer = this.pushAnswers.shift();
    if (answer instanceof Error) throw answer;
    const result = answer ?? this.#fresh();
    this.#remember(payload, result);
    return result;
  }

  /** A new 17-digit msg_id. */
  #fresh(): PushResult {
    const msgId = String(this.nextMsgId);
    this.nextMsgId += 1n;
    return { msgId, sendno: '0' };
  }

  /** Keeps JPush's first answer to a cid. */
  #remember(payload: PushPayload, result: PushResult): void {
    if (payload.cid !== undefined && !this.resultsByCid.has(payload.cid)) {
      this.resultsByCid.set(payload.cid, result);
    }
  }

  async getCids(count = 1): Promise<string[]> {
    this.cidRequests.push(count);
    return Array.from(
      { length: count },
      () => `8103a4c628a0b98974ec1949-cid-${this.nextCid++}`
    );
  }

  async withdraw(msgId: string): Promise<void> {
    this.withdrawn.push(msgId);
    const answer = this.withdrawAnswers.shift();
    if (answer) throw answer;
  }

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
