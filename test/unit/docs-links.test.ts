import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { anchorsOf, brokenLinks, headingSlug, linksOf } from '../support/markdown-links.ts';

const root = resolve(import.meta.dirname, '../..');
const docs = join(root, 'docs');
const documentation = [
  join(root, 'README.md'),
  join(root, 'SECURITY.md'),
  ...readdirSync(docs)
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(docs, name)),
];

describe('documentation links', () => {
  it('every relative link in README.md, SECURITY.md and docs/*.md names an existing file and heading', () => {
    expect(documentation.length).toBeGreaterThan(2);
    expect(brokenLinks(documentation, root)).toEqual([]);
  });

  it('the README links every page under docs/', () => {
    const readmeTargets = new Set(
      linksOf(readFileText(join(root, 'README.md'))).map(({ target }) => target.split('#')[0]),
    );
    const unlinked = readdirSync(docs)
      .filter((name) => name.endsWith('.md'))
      .filter((name) => !readmeTargets.has(`docs/${name}`));
    expect(unlinked).toEqual([]);
  });
});

describe('the link checker', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'docs-links-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('makes anchors as GitHub does', () => {
    expect(headingSlug('Certificate credentials (recommended)')).toBe('certificate-credentials-recommended');
    expect(headingSlug('1. Register the app in Microsoft Entra ID')).toBe('1-register-the-app-in-microsoft-entra-id');
    expect(headingSlug('What is deployed (`infra/multi-region.ts`)')).toBe('what-is-deployed-inframulti-regionts');
    expect(headingSlug('Walkthrough: two environments, locally')).toBe('walkthrough-two-environments-locally');
    expect([...anchorsOf('# A\n## A\n```\n# not a heading\n```\n### b_c\n')]).toEqual(['a', 'a-1', 'b_c']);
  });

  it('reports a missing file, a missing heading and an anchor into a non-markdown file, and nothing else', () => {
    writeFileSync(join(scratch, 'other.md'), '# Present heading\n');
    writeFileSync(join(scratch, 'data.json'), '{}');
    const page = join(scratch, 'page.md');
    writeFileSync(
      page,
      [
        '# Page',
        '[ok](other.md) [ok](other.md#present-heading) [ok](#page) [ok](https://example.com/x.md#nowhere)',
        '[gone](missing.md)',
        '[no heading](other.md#absent)',
        '[self](#absent-here)',
        '[json](data.json#key)',
        '`[in code](missing-too.md)`',
        '```',
        '[in a fence](missing-three.md)',
        '```',
      ].join('\n'),
    );
    expect(brokenLinks([page], scratch).map(({ line, target }) => [line, target])).toEqual([
      [3, 'missing.md'],
      [4, 'other.md#absent'],
      [5, '#absent-here'],
      [6, 'data.json#key'],
    ]);
  });
});

function readFileText(path: string): string {
  return readFileSync(path, 'utf8');
}
