import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { launchChromium } from '../support/browser.ts';
import {
  DEBIAN_CHROMIUM,
  ensureChromium,
  INSTALL_COMMAND,
  INSTALL_TIMEOUT_MS,
  planChromium,
  runCommand,
  type ChromiumFacts,
  type CommandResult,
} from '../support/chromium.ts';

const missing: ChromiumFacts = { explicitPath: undefined, runs: false, aptGet: true, root: true, sudo: false };
const aptInstall = [
  'apt-get',
  '-qq',
  '-o',
  'DPkg::Lock::Timeout=120',
  'install',
  '-y',
  '--no-install-recommends',
  'chromium',
];
const aptUpdate = ['apt-get', '-qq', '-o', 'DPkg::Lock::Timeout=120', 'update'];

/** A machine whose commands answer from `answer`, recording what was run and logged. */
function fakeMachine(answer: (argv: string[], calls: string[][]) => CommandResult, root = true) {
  const calls: string[][] = [];
  const timeouts: number[] = [];
  const lines: string[] = [];
  return {
    calls,
    timeouts,
    lines,
    host: {
      run: async (argv: string[], timeoutMs: number) => {
        calls.push(argv);
        timeouts.push(timeoutMs);
        return answer(argv, calls);
      },
      root: () => root,
      log: (line: string) => void lines.push(line),
    },
  };
}
const ok = { ok: true, detail: 'exit 0' };
const notFound = { ok: false, detail: 'spawn /usr/bin/chromium ENOENT' };
const installed = (calls: string[][]) => calls.some((c) => c.includes('install'));

describe('finding the browser for the e2e tests', () => {
  it('uses Debian’s Chromium, or the one CHROMIUM_PATH names, when it starts', () => {
    expect(planChromium({ ...missing, runs: true })).toEqual({ action: 'use', executablePath: DEBIAN_CHROMIUM });
    expect(planChromium({ ...missing, explicitPath: '/opt/chrome/chrome', runs: true })).toEqual({
      action: 'use',
      executablePath: '/opt/chrome/chrome',
    });
  });

  it('installs Debian’s chromium without recommended packages when running as root', () => {
    expect(planChromium(missing)).toEqual({
      action: 'install',
      executablePath: DEBIAN_CHROMIUM,
      commands: [aptUpdate, aptInstall],
    });
  });

  it('installs through password-less sudo when not root', () => {
    const plan = planChromium({ ...missing, root: false, sudo: true });
    const sudo = ['sudo', '-n', '--preserve-env=DEBIAN_FRONTEND'];
    expect(plan).toEqual({
      action: 'install',
      executablePath: DEBIAN_CHROMIUM,
      commands: [
        [...sudo, ...aptUpdate],
        [...sudo, ...aptInstall],
      ],
    });
  });

  it('fails with the command to run when it may not install (not root, no sudo)', () => {
    const plan = planChromium({ ...missing, root: false, sudo: false });
    expect(plan.action).toBe('fail');
    expect(plan).toHaveProperty('problem', expect.stringContaining(`sudo sh -c '${INSTALL_COMMAND}'`));
  });

  it('fails naming CHROMIUM_PATH when there is no apt-get', () => {
    expect(planChromium({ ...missing, aptGet: false })).toEqual({
      action: 'fail',
      problem: expect.stringContaining('set CHROMIUM_PATH'),
    });
  });

  it('never installs over a CHROMIUM_PATH that does not start', () => {
    expect(planChromium({ ...missing, explicitPath: '/opt/nothing/chrome' })).toEqual({
      action: 'fail',
      problem: expect.stringMatching(/^CHROMIUM_PATH=\/opt\/nothing\/chrome does not start a browser/),
    });
  });
});

describe('setting up the browser before the e2e tests', () => {
  it('says in one line what it installs and why, installs, and hands over the browser it checked', async () => {
    const machine = fakeMachine((argv, calls) => (argv[0] === DEBIAN_CHROMIUM && !installed(calls) ? notFound : ok));
    await expect(ensureChromium(undefined, machine.host)).resolves.toEqual({ executablePath: DEBIAN_CHROMIUM });
    expect(machine.calls).toEqual([
      [DEBIAN_CHROMIUM, '--version'],
      ['apt-get', '--version'],
      aptUpdate,
      aptInstall,
      [DEBIAN_CHROMIUM, '--version'],
    ]);
    expect(machine.lines).toHaveLength(1);
    expect(machine.lines[0]).toMatch(
      /^Browser tests: no working Chromium at \/usr\/bin\/chromium; installing Debian's chromium \(apt-get .*update && apt-get .*install -y --no-install-recommends chromium; at most 10 min\)\.$/,
    );
    // Both apt-get commands share one deadline.
    expect(machine.timeouts.slice(2, 4).every((t) => t > 0 && t <= INSTALL_TIMEOUT_MS)).toBe(true);
  });

  it('reports a failed install with apt-get’s reason and the command to run by hand', async () => {
    const machine = fakeMachine((argv) =>
      argv.includes('install')
        ? { ok: false, detail: 'exit 100: E: Unable to locate package chromium' }
        : argv[0] === DEBIAN_CHROMIUM
          ? notFound
          : ok,
    );
    const setup = await ensureChromium(undefined, machine.host);
    expect(setup).toEqual({ problem: expect.stringContaining('E: Unable to locate package chromium') });
    expect(setup).toEqual({ problem: expect.stringContaining(`Install it by hand: ${INSTALL_COMMAND}`) });
  });

  it('installs nothing and logs nothing when the browser starts', async () => {
    const machine = fakeMachine(() => ok);
    await expect(ensureChromium(undefined, machine.host)).resolves.toEqual({ executablePath: DEBIAN_CHROMIUM });
    expect(machine.calls).toEqual([[DEBIAN_CHROMIUM, '--version']]);
    expect(machine.lines).toEqual([]);
  });

  it('asks sudo only when not root, and fails without installing when it is refused', async () => {
    const machine = fakeMachine((argv) => (argv[0] === 'apt-get' ? ok : { ok: false, detail: 'exit 1' }), false);
    await expect(ensureChromium(undefined, machine.host)).resolves.toEqual({
      problem: expect.stringContaining('not root, no password-less sudo'),
    });
    expect(machine.calls).toEqual([
      [DEBIAN_CHROMIUM, '--version'],
      ['apt-get', '--version'],
      ['sudo', '-n', 'true'],
    ]);
  });
});

describe('running a setup command', () => {
  it('tells success from failure by exit status, with the end of stderr', async () => {
    expect(await runCommand([process.execPath, '--version'], 10_000)).toEqual({ ok: true, detail: 'exit 0' });
    expect(await runCommand([process.execPath, '-e', 'console.error("no mirror"); process.exit(100)'], 10_000)).toEqual(
      { ok: false, detail: 'exit 100: no mirror' },
    );
    expect(await runCommand(['/nonexistent/chromium', '--version'], 10_000)).toEqual({
      ok: false,
      detail: expect.stringContaining('ENOENT'),
    });
  });

  it('kills a command that outlives its timeout', async () => {
    const started = Date.now();
    const result = await runCommand([process.execPath, '-e', 'setTimeout(() => {}, 60_000)'], 300);
    expect(result).toEqual({ ok: false, detail: 'killed after 0.3 s' });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('leaves no timer behind when the command does not exist, so the test run can exit', () => {
    const started = Date.now();
    const child = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('./test/support/chromium.ts').then((m) => m.runCommand(['/nonexistent/chromium', '--version'], 60_000))`,
      ],
      { timeout: 30_000 },
    );
    expect(child.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

describe('launching the browser', () => {
  it('fails the browser test with the setup’s reason when there is no browser', async () => {
    await expect(launchChromium({ problem: 'No Chromium at /usr/bin/chromium: run "x"' })).rejects.toThrow(
      'No Chromium at /usr/bin/chromium: run "x"',
    );
    await expect(launchChromium(undefined)).rejects.toThrow(/e2e project/);
  });
});
