import type { OnCallGroups, SmsBudget } from '../../domain/ports.ts';
import {
  parseCountries,
  SMS_DEFAULTS,
  type SmsSettings,
} from '../../domain/sms-limits.ts';
import { optionalEnv } from '../env.ts';
import { ENV } from '../names.ts';
import { lambdaRepositories } from './dynamo.ts';
import type { Part } from './part.ts';

/** What the SMS limits part provides. */
export interface SmsLimitsDeps {
  /** The daily cap and the per-number rate (the SMS limits table). */
  readonly smsBudget: SmsBudget;
  /** The on-call windows (the SMS limits table). */
  readonly onCallGroups: OnCallGroups;
  /** The limits, as the stack sets them. */
  readonly smsSettings: SmsSettings;
}

/** What the SMS countries part provides. */
export interface SmsCountriesDeps {
  /** The countries an `smsTo` may be in (none when the setting is empty). */
  readonly smsCountries: readonly string[];
}

/**
 * A whole number of at least 0 from the environment.
 * @throws Error naming the variable when it is set to anything else
 */
const count = (name: string, fallback: number): number => {
  const text = optionalEnv(name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) {
    throw new Error(`Environment variable ${name} is not a whole number.`);
  }
  return Number(text);
};

/** The SMS settings of the function's environment (defaults when unset). */
export const smsSettingsOf = (): SmsSettings => ({
  perNumberPerHour: count(
    ENV.smsPerNumberPerHour,
    SMS_DEFAULTS.perNumberPerHour
  ),
  dailyCap: count(ENV.smsDailyCap, SMS_DEFAULTS.dailyCap),
  onCallWindowSeconds: count(
    ENV.onCallWindowSeconds,
    SMS_DEFAULTS.onCallWindowSeconds
  ),
  onCallIncludesTitle: optionalEnv(ENV.onCallSmsIncludesTitle) === 'true',
});

/** The SMS limits part: the limits table and the settings. */
export const smsLimits: Part<SmsLimitsDeps> = () => {
  const table = () => lambdaRepositories().smsLimits;
  return {
    smsBudget: table,
    onCallGroups: table,
    smsSettings: smsSettingsOf,
  };
};

/** The SMS countries part: `SMS_COUNTRIES`. */
export const smsCountries: Part<SmsCountriesDeps> = () => ({
  smsCountries: () => parseCountries(optionalEnv(ENV.smsCountries) ?? ''),
});
