import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const threatModel = readFileSync(join(root, 'docs/threat-model.md'), 'utf8');

interface Threat {
  readonly number: number;
  readonly title: string;
  readonly lines: readonly string[];
}

/** The `### N. title` subsections of the "Threats" section, with their body lines. */
function threats(markdown: string): Threat[] {
  const section = markdown.split(/^## /m).find((part) => part.startsWith('Threats\n'));
  if (section === undefined) return [];
  return section
    .split(/^### /m)
    .slice(1)
    .map((part) => {
      const [heading = '', ...body] = part.split('\n');
      const match = /^(\d+)\. (.+)$/.exec(heading);
      return {
        number: match ? Number(match[1]) : Number.NaN,
        title: match?.[2] ?? heading,
        lines: body.filter((line) => line.trim() !== ''),
      };
    });
}

/** Test files named in a "Proved by" line (`integration/login-callback`, `infra/multi-region.test.ts`). */
function testFiles(proof: string): string[] {
  return [...proof.matchAll(/\b((?:unit|integration|infra|e2e|load)\/[\w-]+)(?:\.test\.ts)?\b/g)].map(
    (m) => `test/${m[1]}.test.ts`,
  );
}

describe('docs/threat-model.md', () => {
  const all = threats(threatModel);

  it('keeps the numbers: 1 to 55 in order, later threats after them in increasing order, none repeated', () => {
    const numbers = all.map((threat) => threat.number);
    expect(numbers.slice(0, 55)).toEqual(Array.from({ length: 55 }, (_, index) => index + 1));
    for (let i = 1; i < numbers.length; i++)
      expect(numbers[i], `after threat ${numbers[i - 1]}`).toBeGreaterThan(numbers[i - 1]!);
  });

  it('gives every threat a title and exactly its "Enters at", "Mitigation" and "Proved by" lines', () => {
    for (const threat of all) {
      expect(threat.title.trim(), `threat ${threat.number}`).not.toBe('');
      expect(
        threat.lines.map((line) => /^- \*\*(Enters at|Mitigation|Proved by):\*\* \S/.exec(line)?.[1]),
        `threat ${threat.number}`,
      ).toEqual(['Enters at', 'Mitigation', 'Proved by']);
    }
  });

  it('names, for every threat, test files that exist', () => {
    for (const threat of all) {
      const files = testFiles(threat.lines.find((line) => line.startsWith('- **Proved by:**')) ?? '');
      expect(files.length, `threat ${threat.number} names no test file`).toBeGreaterThan(0);
      expect(
        files.filter((file) => !existsSync(join(root, file))),
        `threat ${threat.number}`,
      ).toEqual([]);
    }
  });

  it('reads the numbers, the lines and the test files of a sample as they are', () => {
    const sample = [
      '## Threats',
      '',
      '### 1. One',
      '',
      '- **Enters at:** a',
      '- **Mitigation:** b',
      '- **Proved by:** `integration/no-such-test` › x',
      '',
      '### 3. Three',
      '',
      '- **Enters at:** a',
      '- **Proved by:** `unit/config` › y',
      '',
      '## Infrastructure',
    ].join('\n');
    const parsed = threats(sample);
    expect(parsed.map((threat) => threat.number)).toEqual([1, 3]);
    expect(parsed[1]!.lines).toHaveLength(2);
    expect(testFiles(parsed[0]!.lines[2]!).filter((file) => !existsSync(join(root, file)))).toEqual([
      'test/integration/no-such-test.test.ts',
    ]);
    expect(testFiles(parsed[1]!.lines[1]!).filter((file) => !existsSync(join(root, file)))).toEqual([]);
  });
});

describe('SECURITY.md', () => {
  const security = readFileSync(join(root, 'SECURITY.md'), 'utf8');

  it('starts with how to report a vulnerability, then the supported versions, and links the threat model', () => {
    const sections = [...security.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(sections.slice(0, 2)).toEqual(['Reporting a vulnerability', 'Supported versions']);
    expect(security).toContain('](docs/threat-model.md)');
  });
});
