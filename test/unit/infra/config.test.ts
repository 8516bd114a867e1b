import { describe, expect, it } from 'vitest';
import { getConfig } from '../../../infra/config.ts';

/** The configuration of stage dev with these CDK context values. */
const configWith = (context: Record<string, unknown>) =>
  getConfig('dev', (key) => context[key]);

describe('getConfig: the API settings', () => {
  it('defaults to ACK 100/s (burst 200), backend routes 200/s (burst 400) and the documented alarm thresholds', () => {
    // Act
    const { api } = configWith({});

    // Assess
    expect(api).toEqual({
      ackThrottle: { rateLimit: 100, burstLimit: 200 },
      backendThrottle: { rateLimit: 200, burstLimit: 400 },
      ackRequiresDevice: true,
      alarms: { ackClientErrors: 100, ackThrottled: 100, backendThrottled: 10 },
    });
  });

  it('reads each setting as text (`-c key=value`) or as a JSON number (cdk.json)', () => {
    // Act
    const { api } = configWith({
      ackRateLimit: ' 12.5 ',
      ackBurstLimit: '25',
      backendRateLimit: 300,
      backendBurstLimit: 0,
      ackClientErrorsAlarmThreshold: '50',
      ackThrottledAlarmThreshold: 20,
      backendThrottledAlarmThreshold: '1',
      ackRequiresDevice: 'false',
    });

    // Assess
    expect(api).toEqual({
      ackThrottle: { rateLimit: 12.5, burstLimit: 25 },
      backendThrottle: { rateLimit: 300, burstLimit: 0 },
      ackRequiresDevice: false,
      alarms: { ackClientErrors: 50, ackThrottled: 20, backendThrottled: 1 },
    });
  });

  it('keeps the default for an empty value', () => {
    // Act
    const { api } = configWith({ ackRateLimit: '', backendBurstLimit: '  ' });

    // Assess
    expect(api.ackThrottle.rateLimit).toBe(100);
    expect(api.backendThrottle.burstLimit).toBe(400);
  });

  it.each([
    ['ackRateLimit', '-1', 'ackRateLimit: "-1" is not a number of at least 0'],
    [
      'ackRateLimit',
      'fast',
      'ackRateLimit: "fast" is not a number of at least 0',
    ],
    [
      'backendRateLimit',
      -5,
      'backendRateLimit: -5 is not a number of at least 0',
    ],
    ['backendRateLimit', '1e3', 'backendRateLimit: "1e3" is not a number'],
    [
      'ackBurstLimit',
      '2.5',
      'ackBurstLimit: "2.5" is not a whole number of at least 0',
    ],
    [
      'backendBurstLimit',
      true,
      'backendBurstLimit: true is not a whole number',
    ],
    [
      'ackClientErrorsAlarmThreshold',
      '0',
      'ackClientErrorsAlarmThreshold: "0" is not a whole number of at least 1',
    ],
    [
      'ackThrottledAlarmThreshold',
      'many',
      'ackThrottledAlarmThreshold: "many" is not a whole number',
    ],
    [
      'backendThrottledAlarmThreshold',
      -1,
      'backendThrottledAlarmThreshold: -1 is not a whole number of at least 1',
    ],
  ])('refuses %s = %j with a clear error', (key, value, message) => {
    // Act
    const act = () => configWith({ [key]: value });

    // Assess
    expect(act).toThrow(message);
  });
});

describe('getConfig: the SMS limits', () => {
  it('defaults to 5 an hour per number, 1000 a day, 5-minute on-call windows without the title, and the on-call numbers\u2019 countries', () => {
    // Act
    const { sms } = configWith({
      onCallPhoneNumbers: '+8613800000100,+14165550100,+15555550100',
    });

    // Assess: +1 555 01xx is no country's number, so it adds none.
    expect(sms).toEqual({
      perNumberPerHour: 5,
      dailyCap: 1000,
      countries: ['CN', 'CA'],
      onCallWindowSeconds: 300,
      onCallIncludesTitle: false,
      suppressedAlarmThreshold: 1,
    });
  });

  it('reads the countries as codes in any case, or none', () => {
    // Act
    const some = configWith({ smsCountries: 'cn, US ,cn' }).sms.countries;
    const none = configWith({
      onCallPhoneNumbers: '+8613800000100',
      smsCountries: 'none',
    }).sms.countries;

    // Assess
    expect(some).toEqual(['CN', 'US']);
    expect(none).toEqual([]);
  });

  it.each([
    [
      { smsCountries: 'CN,XX,China' },
      'smsCountries: XX, CHINA are not country codes (ISO 3166-1 alpha-2, like CN or US)',
    ],
    [
      { smsDailyCap: '-1' },
      'smsDailyCap: "-1" is not a whole number of at least 0',
    ],
    [
      { onCallWindowSeconds: 0 },
      'onCallWindowSeconds: 0 is not a whole number of at least 1',
    ],
    [
      { onCallSmsIncludesTitle: 'yes' },
      'onCallSmsIncludesTitle: "yes" is not true or false',
    ],
  ])('refuses %o with a message naming the setting', (context, message) => {
    // Act / Assess
    expect(() => configWith(context)).toThrow(message);
  });
});
