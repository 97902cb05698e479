import { DEV_USERS } from './idp.ts';
import { removeServiceFile, serviceFilePath, writeServiceFile } from './service-file.ts';
import { startLocalStack } from './stack.ts';

/** `npm start`: the whole service on this machine, on embedded defaults unless configured otherwise. */
// `npm start -- --metrics`: print the metrics each request would emit in Lambda.
if (process.argv.includes('--metrics')) process.env.PRINT_METRICS = '1';
const stack = await startLocalStack().catch((err: unknown) => {
  console.error(`Could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

// Local tools (the example CLI) read the chosen URL here, whatever PORT was.
const serviceFile = serviceFilePath();
const environments =
  stack.environments && Object.fromEntries(stack.environments.map((e) => [e.uniqueName, e.dataverse.url]));
writeServiceFile({ url: stack.url, dynamodb: stack.dynamodbEndpoint, environments, pid: process.pid }, serviceFile);

console.log(`
Dynamics auth service running locally

  Open ${stack.url}/ and click "Sign in".

  service            ${stack.summary.service}
  identity provider  ${stack.summary.identityProvider}${stack.idp ? '  (development IdP: signs in without a password)' : ''}
  Dataverse          ${stack.summary.dataverse}${stack.dataverse ? '  (development stand-in)' : ''}
${
  stack.environments
    ? `  environments       ${stack.environments.map((e) => `${e.uniqueName} ${e.dataverse.url}`).join('\n                     ')}
  Global Discovery   ${stack.discovery!.url}  (lists the signed-in user's environments)
  users              ${DEV_USERS.map((u) => u.preferred_username).join(', ')} (default ${DEV_USERS[0]!.preferred_username})
  choose a user      ${stack.summary.identityProvider}/select-account
`
    : ''
}  DynamoDB           ${stack.summary.dynamodb}
  token encryption   ${stack.summary.keys}
  service file       ${serviceFile}  (the CLI finds the service here; data lives in memory until Ctrl-C)
  metrics            ${process.env.PRINT_METRICS === '1' ? 'printed per request (PRINT_METRICS=1)' : 'off (npm start -- --metrics prints them)'}

Press Ctrl-C to stop.
`);

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping…`);
  const force = setTimeout(() => process.exit(1), 5_000);
  force.unref();
  removeServiceFile(process.pid, serviceFile);
  void stack.stop().then(() => process.exit(0));
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
