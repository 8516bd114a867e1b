/**
 * An in-memory stand-in for SNS that records the SMS escalation sends, for
 * the integration tests and the local mode.
 */
import { randomUUID } from 'node:crypto';
import type { SmsSender } from '../functions/domain/ports.ts';

/** What an SNS Publish call carries (the fields escalation uses). */
export interface SmsPublishParams {
  /** Topic to publish to (ARN or name). */
  TopicArn?: string;
  /** Direct SMS to this phone number (E.164). */
  PhoneNumber?: string;
  /** The text. */
  Message: string;
  /** Ignored by SMS, kept for email-style subscribers. */
  Subject?: string;
}

/** One recorded SMS. */
export interface RecordedSms {
  /** The phone number; for a topic without subscriptions, the topic name. */
  to: string;
  /** The message text. */
  text: string;
  /** When it was published (ISO 8601). */
  at: string;
  /** The topic it went through, if it was a topic publish. */
  topicArn?: string;
}

/** Called for every recorded SMS. */
export type SmsListener = (sms: RecordedSms) => void;

const topicName = (topicArnOrName: string): string =>
  topicArnOrName.split(':').at(-1) ?? topicArnOrName;

/** Records SMS instead of sending them; can be told to fail the next calls. */
export class SmsSink {
  readonly #sent: RecordedSms[] = [];
  readonly #listeners = new Set<SmsListener>();
  readonly #subscriptions = new Map<string, string[]>();
  #failures: string[] = [];

  /**
   * Publishes like SNS Publish: a direct SMS, or one SMS per phone number
   * subscribed to the topic (one entry addressed to the topic name when the
   * topic has no subscriptions).
   * @param params the Publish parameters
   * @returns the message id
   * @throws Error named like an SNS error when {@link failNext} asked for it,
   * or `InvalidParameterException` when neither TopicArn nor PhoneNumber is set
   */
  publish(params: SmsPublishParams): { MessageId: string } {
    const failure = this.#failures.shift();
    if (failure !== undefined) {
      throw Object.assign(new Error(`Simulated SNS failure: ${failure}`), {
        name: failure,
      });
    }
    if (!params.TopicArn && !params.PhoneNumber) {
      throw Object.assign(
        new Error('Invalid parameter: TopicArn or PhoneNumber is required'),
        { name: 'InvalidParameterException' }
      );
    }
    const at = new Date().toISOString();
    const entries: RecordedSms[] = [];
    if (params.PhoneNumber) {
      entries.push({ to: params.PhoneNumber, text: params.Message, at });
    } else if (params.TopicArn) {
      const topicArn = params.TopicArn;
      const phones = this.#subscriptions.get(topicName(topicArn)) ?? [];
      const recipients = phones.length > 0 ? phones : [topicName(topicArn)];
      for (const to of recipients) {
        entries.push({ to, text: params.Message, at, topicArn });
      }
    }
    for (const entry of entries) {
      this.#sent.push(entry);
      for (const listener of this.#listeners) listener(entry);
    }
    return { MessageId: randomUUID() };
  }

  /**
   * Subscribes a phone number to a topic, so topic publishes fan out to it.
   * @param topicArnOrName the topic's ARN or name
   * @param phoneNumber the phone number (E.164)
   */
  subscribe(topicArnOrName: string, phoneNumber: string): void {
    const name = topicName(topicArnOrName);
    const phones = this.#subscriptions.get(name) ?? [];
    if (!phones.includes(phoneNumber)) phones.push(phoneNumber);
    this.#subscriptions.set(name, phones);
  }

  /** Every SMS recorded so far, oldest first (a copy). */
  list(): RecordedSms[] {
    return this.#sent.map((sms) => ({ ...sms }));
  }

  /** Forgets the recorded SMS and pending failures (subscriptions stay). */
  clear(): void {
    this.#sent.length = 0;
    this.#failures = [];
  }

  /**
   * Makes the next `n` publishes throw an Error with the given name and
   * record nothing.
   * @param n how many publishes fail
   * @param errorName the error's name @default 'InternalErrorException'
   */
  failNext(n: number, errorName = 'InternalErrorException'): void {
    for (let i = 0; i < n; i++) this.#failures.push(errorName);
  }

  /**
   * Calls `listener` for every SMS recorded from now on.
   * @param listener receives each recorded SMS
   * @returns a function that removes the listener
   */
  onSms(listener: SmsListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
}

/** The escalation's {@link SmsSender} over the local sink, as SNS is on AWS. */
export class LocalSmsSender implements SmsSender {
  /**
   * @param sink where the SMS are recorded
   * @param onCallTopic the on-call topic's name (its logical id locally)
   */
  constructor(
    private readonly sink: SmsSink,
    private readonly onCallTopic: string
  ) {}

  async toOnCall(text: string): Promise<void> {
    this.sink.publish({ TopicArn: this.onCallTopic, Message: text });
  }

  async toNumber(phoneNumber: string, text: string): Promise<void> {
    this.sink.publish({ PhoneNumber: phoneNumber, Message: text });
  }
}
