import { type Clock, systemClock } from '../../domain/ports.ts';
import type { Part } from './part.ts';

/** The clock part: the system clock. */
export const clock: Part<{ readonly clock: Clock }> = () => ({
  clock: () => systemClock,
});
