import type { ReportModeMemory } from '../domain/ports.ts';

/**
 * Remembers in this process (a Lambda container, or the local system) that
 * the app lacks the per-device status API. Each container asks once an
 * hour at most; nothing is stored.
 */
export class InMemoryReportMode implements ReportModeMemory {
  #until = 0;

  countersOnly(now: Date): boolean {
    return now.getTime() < this.#until;
  }

  rememberCountersOnly(until: Date): void {
    this.#until = until.getTime();
  }
}
