import type { TestProject } from 'vitest/node';
import { ensureChromium } from './chromium.ts';

/** The e2e project's global setup: runs once before its tests and hands them the browser (or the reason there is none). */
export default async function setup(project: TestProject): Promise<void> {
  project.provide('chromium', await ensureChromium());
}
