import {
  getCountries,
  parsePhoneNumberFromString,
} from 'libphonenumber-js/min';
import { ValidationError } from './errors.ts';

/**
 * The limits on escalation SMS. An outage of JPush or of the apps escalates
 * every message in flight; without these, that is one SMS per message to
 * the on-call person and to every recipient number, and an `smsTo` anywhere
 * in the world (premium-rate ranges included) is paid for.
 */
export interface SmsSettings {
  /** At most this many SMS to one recipient number in a clock hour. */
  readonly perNumberPerHour: number;
  /** At most this many SMS in a UTC day, on-call and recipients together. */
  readonly dailyCap: number;
  /**
   * How long an on-call window gathers escalations after the page that
   * opened it; they go out as one summary SMS when it closes.
   */
  readonly onCallWindowSeconds: number;
  /** The on-call page carries the message's title (off: ids and counts only). */
  readonly onCallIncludesTitle: boolean;
}

/** The defaults of {@link SmsSettings}, which the README documents. */
export const SMS_DEFAULTS = {
  // A person reads five SMS an hour about one message stream; more is spam
  // that a phone carrier may block, and that the recipient pays attention
  // to less and less.
  perNumberPerHour: 5,
  // Enough for a bad day of a mid-sized app (a JPush outage with grouping
  // pages the on-call about twice per 5 minutes: 576 a day at most), small
  // enough that an abuse of smsTo costs tens of dollars, not thousands.
  dailyCap: 1000,
  onCallWindowSeconds: 300,
  onCallIncludesTitle: false,
} as const satisfies SmsSettings;

/** The ISO 3166-1 alpha-2 codes libphonenumber knows, on first use. */
let countries: ReadonlySet<string> | undefined;
const isCountry = (code: string) => {
  countries ??= new Set(getCountries());
  return countries.has(code);
};

/**
 * The ISO 3166-1 alpha-2 country of a phone number, from its calling code
 * and national number plan (so +1 876 is Jamaica, not the US).
 * @returns undefined for a number no country's plan allows (+882 and other
 * international networks, unassigned ranges)
 */
export const countryOf = (phoneNumber: string): string | undefined => {
  const parsed = parsePhoneNumberFromString(phoneNumber);
  return parsed?.isValid() ? parsed.country : undefined;
};

/**
 * The countries of some phone numbers (the on-call numbers), the default
 * allow-list of `smsTo`; numbers of no country are left out.
 */
export const countriesOf = (phoneNumbers: readonly string[]): string[] => [
  ...new Set(
    phoneNumbers.map(countryOf).filter((c): c is string => c !== undefined)
  ),
];

/**
 * Parses a list of country codes (`CN,US`), as the settings give it.
 * @throws Error naming the codes that are not ISO 3166-1 alpha-2 countries
 */
export const parseCountries = (text: string): string[] => {
  const codes = text
    .split(',')
    .map((c) => c.trim().toUpperCase())
    .filter((c) => c !== '');
  const unknown = codes.filter((c) => !isCountry(c));
  if (unknown.length > 0) {
    throw new Error(
      `smsCountries: ${unknown.join(', ')} ${unknown.length === 1 ? 'is not a country code' : 'are not country codes'} (ISO 3166-1 alpha-2, like CN or US)`
    );
  }
  return [...new Set(codes)];
};

/**
 * Checks that an escalation SMS may go to a number: it is a valid number of
 * a country in the allow-list.
 * @throws ValidationError saying why not and what the operator can change
 */
export const checkSmsTo = (
  phoneNumber: string,
  allowed: readonly string[]
): void => {
  const country = countryOf(phoneNumber);
  if (country === undefined) {
    throw new ValidationError(
      `Invalid request body: escalation.smsTo ${phoneNumber} is not a phone number of any country (numbers of international and premium networks are refused).`
    );
  }
  if (!allowed.includes(country)) {
    throw new ValidationError(
      allowed.length === 0
        ? `Invalid request body: escalation.smsTo is refused: SMS to recipients are allowed in no country (the operator allows countries with the smsCountries setting).`
        : `Invalid request body: escalation.smsTo ${phoneNumber} is in ${country}, and SMS go only to ${allowed.join(', ')} (the smsCountries setting).`
    );
  }
};
