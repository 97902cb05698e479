import { spawn } from 'node:child_process';

/** Where Debian's `chromium` package puts the browser; `CHROMIUM_PATH` names another one. */
export const DEBIAN_CHROMIUM = '/usr/bin/chromium';

/** What the browser tests get: a Chromium that starts, or why there is none and how to get one. */
export type ChromiumSetup = { executablePath: string } | { problem: string };

declare module 'vitest' {
  export interface ProvidedContext {
    chromium: ChromiumSetup;
  }
}

/** What is known about this machine before deciding how to get a browser. */
export interface ChromiumFacts {
  /** `CHROMIUM_PATH`, when set: that browser is used as it is, never installed over. */
  explicitPath: string | undefined;
  /** Whether the browser at `explicitPath ?? DEBIAN_CHROMIUM` prints its version. */
  runs: boolean;
  aptGet: boolean;
  root: boolean;
  /** Whether `sudo -n` (no password prompt) works; only asked when not root. */
  sudo: boolean;
}

export type ChromiumPlan =
  | { action: 'use'; executablePath: string }
  | { action: 'install'; executablePath: string; commands: string[][] }
  | { action: 'fail'; problem: string };

// Lock timeout: a second test run installing at the same moment waits for dpkg's lock instead of failing.
const APT = ['apt-get', '-qq', '-o', 'DPkg::Lock::Timeout=120'];
/** The commands a person runs to install the browser, as shown in messages. */
export const INSTALL_COMMAND = 'apt-get update && apt-get install -y --no-install-recommends chromium';
/** Bounds both apt-get commands together: a stuck mirror fails the browser tests instead of hanging them. */
export const INSTALL_TIMEOUT_MS = 10 * 60_000;

export function planChromium(facts: ChromiumFacts): ChromiumPlan {
  const executablePath = facts.explicitPath ?? DEBIAN_CHROMIUM;
  if (facts.runs) return { action: 'use', executablePath };
  if (facts.explicitPath !== undefined) {
    return {
      action: 'fail',
      problem: `CHROMIUM_PATH=${facts.explicitPath} does not start a browser ("${facts.explicitPath} --version" failed): point it at a Chromium, or unset it to use Debian's chromium (${INSTALL_COMMAND}).`,
    };
  }
  if (!facts.aptGet) {
    return {
      action: 'fail',
      problem: `No Chromium at ${DEBIAN_CHROMIUM} and no apt-get to install it: install Chromium and set CHROMIUM_PATH to its executable.`,
    };
  }
  if (!facts.root && !facts.sudo) {
    return {
      action: 'fail',
      problem: `No Chromium at ${DEBIAN_CHROMIUM}, and the tests cannot install it (not root, no password-less sudo): run "sudo sh -c '${INSTALL_COMMAND}'", then the tests again.`,
    };
  }
  // sudo resets the environment: keep the one variable that stops apt-get from asking questions.
  const asRoot = facts.root ? [] : ['sudo', '-n', '--preserve-env=DEBIAN_FRONTEND'];
  return {
    action: 'install',
    executablePath,
    commands: [
      [...asRoot, ...APT, 'update'],
      [...asRoot, ...APT, 'install', '-y', '--no-install-recommends', 'chromium'],
    ],
  };
}

export interface CommandResult {
  ok: boolean;
  /** Exit status, the signal, or the spawn error, with the end of stderr: enough to say why it failed. */
  detail: string;
}

/** Runs a command with no shell and no input, killing it at `timeoutMs`. */
export function runCommand(argv: string[], timeoutMs: number): Promise<CommandResult> {
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    // Our own timer, not spawn's `timeout`: Node leaves that one running when the command does not exist.
    const child = spawn(file!, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, timeoutMs);
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-2_000);
    });
    const finish = (result: CommandResult) => {
      clearTimeout(timer);
      resolve(result);
    };
    child.on('error', (error) => finish({ ok: false, detail: error.message }));
    child.on('close', (code, signal) => {
      const status = timedOut ? `killed after ${timeoutMs / 1000} s` : signal ? `killed by ${signal}` : `exit ${code}`;
      finish({ ok: code === 0, detail: `${status}${stderr.trim() ? `: ${stderr.trim()}` : ''}` });
    });
  });
}

/** The real machine's answers. */
export const machine = {
  run: runCommand,
  root: () => process.getuid?.() === 0,
  log: (line: string) => console.log(line),
};

async function gatherFacts(explicitPath: string | undefined, host: typeof machine): Promise<ChromiumFacts> {
  const executablePath = explicitPath ?? DEBIAN_CHROMIUM;
  const runs = (await host.run([executablePath, '--version'], 20_000)).ok;
  const root = host.root();
  if (runs) return { explicitPath, runs, aptGet: false, root, sudo: false };
  const aptGet = (await host.run(['apt-get', '--version'], 10_000)).ok;
  const sudo = !root && (await host.run(['sudo', '-n', 'true'], 10_000)).ok;
  return { explicitPath, runs, aptGet, root, sudo };
}

/**
 * Finds the browser the e2e tests drive and, when Debian's is missing and this process may install
 * it (root, or password-less sudo), installs it with apt-get, saying so in one line. Never throws:
 * a machine without a browser gets a `problem` that fails the browser tests, not the whole run.
 */
export async function ensureChromium(
  explicitPath = process.env.CHROMIUM_PATH || undefined,
  host = machine,
): Promise<ChromiumSetup> {
  const plan = planChromium(await gatherFacts(explicitPath, host));
  if (plan.action === 'use') return { executablePath: plan.executablePath };
  if (plan.action === 'fail') return { problem: plan.problem };

  host.log(
    `Browser tests: no working Chromium at ${plan.executablePath}; installing Debian's chromium (${plan.commands.map((c) => c.join(' ')).join(' && ')}; at most ${INSTALL_TIMEOUT_MS / 60_000} min).`,
  );
  const deadline = Date.now() + INSTALL_TIMEOUT_MS;
  for (const command of plan.commands) {
    const result = await host.run(command, Math.max(1, deadline - Date.now()));
    if (!result.ok)
      return {
        problem: `Installing Chromium failed (${command.join(' ')}: ${result.detail}). Install it by hand: ${INSTALL_COMMAND}`,
      };
  }
  const installed = await host.run([plan.executablePath, '--version'], 20_000);
  if (!installed.ok)
    return { problem: `Chromium was installed but ${plan.executablePath} --version fails (${installed.detail}).` };
  return { executablePath: plan.executablePath };
}
