import { booleanEnv } from '../env.ts';
import { ENV } from '../names.ts';
import type { Part } from './part.ts';

/** What the ACK settings part provides. */
export interface AckSettingsDeps {
  /** Whether an ACK must name its device (`ACK_REQUIRES_DEVICE`, default true). */
  readonly ackRequiresDevice: boolean;
}

/** The ACK settings part: `ACK_REQUIRES_DEVICE`, as the stack sets it. */
export const ackSettings: Part<AckSettingsDeps> = () => ({
  ackRequiresDevice: () => booleanEnv(ENV.ackRequiresDevice, true),
});
