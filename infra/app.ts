/**
 * CDK app entry (`cdk.json`: `npx tsx infra/app.ts`). Settings come from CDK context, e.g.
 *   npx cdk deploy -c clientId=<guid> -c dynamicsUrl=https://org.crm.dynamics.com \
 *     -c allowedReturnUrls=https://app.example.com -c clientSecretName=dynamics-auth/client-secret \
 *     -c alarmEmail=ops@example.com
 * See docs/deploy.md, "2. Deploy", for every setting and its default.
 */
import { Annotations, App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DEFAULT_ALLOWED_RETURN_URLS, readSettings, type SettingName, SettingsError } from './settings.ts';
import { DynamicsAuthStack } from './stack.ts';
import { addMultiRegionStacks, MultiRegionError, readMultiRegionPlan } from './multi-region.ts';

const app = new App();

let settings;
try {
  settings = readSettings((name) => app.node.tryGetContext(name));
} catch (err) {
  if (err instanceof SettingsError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

let plan;
try {
  plan = readMultiRegionPlan((name) => app.node.tryGetContext(name));
} catch (err) {
  if (err instanceof MultiRegionError) {
    console.error(`Invalid multi-Region settings: ${err.message}`);
    process.exit(1);
  }
  throw err;
}
// Multi-Region (`-c regions=...`, docs/multi-region.md): one stack per Region; otherwise one stack.
const stacks = plan
  ? addMultiRegionStacks(app, settings.stackName, plan, settings.serviceProps, {
      ...(process.env.CDK_DEFAULT_ACCOUNT ? { account: process.env.CDK_DEFAULT_ACCOUNT } : {}),
      ...(settings.alarmEmail !== undefined ? { alarmEmail: settings.alarmEmail } : {}),
    }).stacks
  : [];
const stack =
  stacks[0] ??
  new DynamicsAuthStack(app, settings.stackName, {
    // Environment-agnostic: deploys to the CLI's account/region; synth never needs credentials.
    service: settings.serviceProps,
    ...(settings.alarmEmail !== undefined ? { alarmEmail: settings.alarmEmail } : {}),
  });

/** Why a placeholder matters beyond "the service won't work", where it does. */
const PLACEHOLDER_RISK: Partial<Record<SettingName, string>> = {
  allowedReturnUrls: ` (${DEFAULT_ALLOWED_RETURN_URLS} would be trusted for CORS with credentials, the CSRF check and returnTo)`,
};

for (const name of settings.placeholders) {
  for (const target of stacks.length > 0 ? stacks : [stack])
    Annotations.of(target).addWarningV2(
      `dynamics-auth:placeholder-${name}`,
      `"${name}" is still the placeholder${PLACEHOLDER_RISK[name] ?? ''}; pass -c ${name}=... before deploying a working service.`,
    );
}

// cdk-nag v3 is a CDK policy-validation plugin: any unacknowledged finding fails `cdk synth`.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
