import { describe, expect, it } from 'vitest';
import { InMemoryReportMode } from '../../../functions/adapters/report-mode.ts';

describe('InMemoryReportMode', () => {
  it('remembers that the app has only the counters until the given time', () => {
    // Prepare
    const mode = new InMemoryReportMode();
    const now = new Date('2026-11-27T08:00:00.000Z');
    const before = mode.countersOnly(now);

    // Act
    mode.rememberCountersOnly(new Date('2026-11-27T09:00:00.000Z'));

    // Assess
    expect(before).toBe(false);
    expect(mode.countersOnly(new Date('2026-11-27T08:59:59.999Z'))).toBe(true);
    expect(mode.countersOnly(new Date('2026-11-27T09:00:00.000Z'))).toBe(false);
  });
});
