import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// README's "Where things live" sends each behaviour to its files; this keeps
// every path in that table true as files move.
const README = readFileSync('README.md', 'utf8');

/** The lines of a section, from its heading to the next heading. */
const section = (heading: string): string[] => {
  const lines = README.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) return [];
  const end = lines.findIndex((line, i) => i > start && /^#{1,3} /.test(line));
  return lines.slice(start + 1, end < 0 ? undefined : end);
};

const rows = section('### Where things live').filter(
  (line) => line.startsWith('| ') && !line.startsWith('| behaviour')
);

/** The code spans of a row that name a file or folder of the project. */
const pathsOf = (row: string): string[] =>
  [...row.matchAll(/`([^`]+)`/g)]
    .map((match) => match[1] ?? '')
    .filter((span) =>
      /^(functions|infra|local|client|test|bench|shared)\/[\w./-]*$/.test(span)
    );

describe('README: where things live', () => {
  it('has a row for each behaviour the issue names', () => {
    const behaviours = rows.map((row) => row.split('|')[1]?.trim() ?? '');

    for (const behaviour of [
      'send',
      'push attempt',
      'report check',
      'ACK',
      'escalation',
      'login drain',
      'logout withdraw',
      'pacing',
      'events',
    ]) {
      expect(
        behaviours.some((b) => b.startsWith(behaviour)),
        behaviour
      ).toBe(true);
    }
  });

  it('names files that exist, in every row', () => {
    const paths = rows.flatMap(pathsOf);

    expect(paths.length).toBeGreaterThan(30);
    for (const row of rows) {
      expect(pathsOf(row).length, row).toBeGreaterThan(0);
    }
    expect(paths.filter((path) => !existsSync(path))).toEqual([]);
  });
});
