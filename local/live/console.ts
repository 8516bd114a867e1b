import type { LiveEvent } from './events.ts';

const ANSI = {
  dim: '\u001b[2m',
  bold: '\u001b[1m',
  reset: '\u001b[0m',
  red: '\u001b[31m',
  green: '\u001b[32m',
  yellow: '\u001b[33m',
  blue: '\u001b[34m',
  magenta: '\u001b[35m',
  cyan: '\u001b[36m',
} as const;

const COLOR_OF: Record<string, keyof typeof ANSI> = {
  accepted: 'bold',
  stored: 'magenta',
  drained: 'magenta',
  withdrawn: 'magenta',
  pushed: 'blue',
  'report checked': 'cyan',
  'on phone': 'cyan',
  acknowledged: 'green',
  'late ACK': 'green',
  escalated: 'yellow',
  'SMS sent': 'yellow',
  SMS: 'yellow',
  'not delivered': 'yellow',
  failed: 'red',
  'push failed': 'red',
  'SMS failed': 'red',
  'execution failed': 'red',
  login: 'magenta',
  logout: 'magenta',
};

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `HH:MM:SS.mmm` in local time. */
export const clockTime = (iso: string): string => {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '--:--:--.---';
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
};

/**
 * One console line for an event: time, label, subject, what happened.
 * @param event the event
 * @param color whether to use ANSI colors
 */
export const formatEventLine = (event: LiveEvent, color = false): string => {
  const paint = (name: keyof typeof ANSI | undefined, text: string) =>
    color && name ? `${ANSI[name]}${text}${ANSI.reset}` : text;
  const label =
    event.kind === 'status'
      ? paint(COLOR_OF[event.status] ?? 'dim', event.label.padEnd(14))
      : paint(COLOR_OF[event.label], event.label.padEnd(14));
  return [paint('dim', clockTime(event.at)), label, event.subject, event.text]
    .filter((part) => part !== '')
    .join('  ');
};
