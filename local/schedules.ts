/**
 * The scheduled functions of the synthesized service stack, run locally on
 * timers: each `AWS::Events::Rule` with a `rate(...)` schedule that targets
 * a Lambda function calls that function's handler (its `LocalEntry`) at that
 * rate, multiplied by the time scale. A run that is still going when the
 * next is due is not started twice.
 */
import type { CfnResource, CfnTemplate } from './dynamo.ts';

/** A rate-scheduled function found in a template. */
export interface LocalSchedule {
  /** The rule's logical id. */
  readonly ruleId: string;
  /** The target function's handler module, e.g. `functions/handlers/x.ts`. */
  readonly entry: string;
  /** The rate, in ms of policy time. */
  readonly everyMs: number;
}

const UNIT_MS: Record<string, number> = {
  minute: 60_000,
  minutes: 60_000,
  hour: 3_600_000,
  hours: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
};

/**
 * The rate-scheduled Lambda targets of a template.
 * @throws when a rule targets a function without `LocalEntry`, or uses a
 * schedule other than `rate(n unit)`
 */
export const schedulesOf = (template: CfnTemplate): LocalSchedule[] => {
  const resources: Record<string, CfnResource> = template.Resources ?? {};
  const found: LocalSchedule[] = [];
  for (const [ruleId, rule] of Object.entries(resources)) {
    if (rule.Type !== 'AWS::Events::Rule') continue;
    const expression = rule.Properties?.ScheduleExpression;
    if (typeof expression !== 'string') continue;
    const rate = /^rate\((\d+) (minutes?|hours?|days?)\)$/.exec(expression);
    if (!rate) throw new Error(`${ruleId}: unsupported schedule ${expression}`);
    const everyMs = Number(rate[1]) * (UNIT_MS[rate[2] as string] ?? 0);
    const targets = (rule.Properties?.Targets ?? []) as {
      Arn?: { 'Fn::GetAtt'?: [string, string] };
    }[];
    for (const target of targets) {
      const functionId = target.Arn?.['Fn::GetAtt']?.[0];
      const fn = functionId ? resources[functionId] : undefined;
      if (fn?.Type !== 'AWS::Lambda::Function') continue;
      const entry = fn.Metadata?.LocalEntry;
      if (typeof entry !== 'string') {
        throw new Error(`${ruleId}: function ${functionId} has no LocalEntry`);
      }
      found.push({ ruleId, entry, everyMs });
    }
  }
  return found;
};

/**
 * Runs the template's scheduled functions on timers.
 * @param template the service stack's template
 * @param handlerFor the local handler of a function's entry
 * @param timeScale multiplies every rate (0.01: 100× more often)
 * @returns `close()`, which stops the timers and waits for running calls
 */
export const startSchedules = (
  template: CfnTemplate,
  handlerFor: (entry: string) => (event: unknown) => Promise<unknown>,
  timeScale: number
): { close(): Promise<void> } => {
  const timers: NodeJS.Timeout[] = [];
  const running = new Set<Promise<unknown>>();
  for (const schedule of schedulesOf(template)) {
    const handler = handlerFor(schedule.entry);
    let busy = false;
    const timer = setInterval(
      () => {
        if (busy) return;
        busy = true;
        const run = handler({
          source: 'aws.events',
          'detail-type': 'Scheduled Event',
        })
          .catch((error: unknown) => {
            console.error(`local schedule ${schedule.ruleId} failed`, error);
          })
          .finally(() => {
            busy = false;
            running.delete(run);
          });
        running.add(run);
      },
      Math.max(10, schedule.everyMs * timeScale)
    );
    timer.unref();
    timers.push(timer);
  }
  return {
    close: async () => {
      for (const timer of timers) clearInterval(timer);
      await Promise.all(running);
    },
  };
};
