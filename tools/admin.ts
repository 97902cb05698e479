/**
 * API keys for backends (managed connections):
 *   npm run admin -- keys create --name "Contoso sync" [--allow-impersonation]   prints the key once
 *   npm run admin -- keys list
 *   npm run admin -- keys revoke <keyId>
 *   npm run admin -- webhooks deliveries [--limit 50]   recent delivery attempts (ids, status; no secrets)
 * Uses API_KEYS_TABLE (default ApiKeys) in the AWS account and region of the environment's
 * credentials, or DYNAMODB_ENDPOINT (e.g. the endpoint `npm start` prints) in local mode.
 * Certificate credentials for the app registration: see tools/cert.ts (`admin cert create …`).
 * Ending every session or connection of a user or tenant: see tools/revoke.ts (`admin sessions revoke …`).
 */
import { generateApiKey } from '../shared/auth/api-keys.ts';
import { certCommand } from './cert.ts';
import { defaultSessionsTable, revokeCommand, revokeUsage } from './revoke.ts';
import { createDynamoClient, DynamoApiKeyStore } from '../shared/stores/dynamodb.ts';
import { deliveriesCommand } from './webhook-deliveries.ts';

const usage =
  'usage: admin keys create --name <name> [--allow-impersonation] | keys list | keys revoke <keyId> | webhooks deliveries [--limit N] | cert create --key <kms key> --subject "CN=<name>" [--days 365] [--out cert.pem]\n' +
  revokeUsage;

async function main(args: string[]): Promise<number> {
  const [group, command, ...rest] = args;
  if (group === 'cert') return certCommand(args.slice(1));
  if (group === 'webhooks' && command === 'deliveries') return deliveriesCommand(rest);
  if (group === 'sessions' || group === 'connections') {
    const client = createDynamoClient({ endpoint: process.env.DYNAMODB_ENDPOINT });
    try {
      return await revokeCommand(group === 'sessions' ? 'session' : 'connection', args.slice(1), {
        client,
        tableName: defaultSessionsTable(),
      });
    } finally {
      client.destroy();
    }
  }
  if (group !== 'keys' || !command) {
    console.error(usage);
    return 2;
  }
  const client = createDynamoClient({ endpoint: process.env.DYNAMODB_ENDPOINT });
  const store = new DynamoApiKeyStore(client, process.env.API_KEYS_TABLE ?? 'ApiKeys');
  try {
    if (command === 'create') {
      const nameIndex = rest.indexOf('--name');
      const name = nameIndex >= 0 ? rest[nameIndex + 1]?.trim() : undefined;
      if (!name || name.startsWith('--') || name.length > 200) {
        console.error('keys create needs --name <name> (at most 200 characters)');
        return 2;
      }
      // Impersonation (MSCRMCallerID, CallerObjectId) stays refused unless asked for here.
      const allowImpersonation = rest.includes('--allow-impersonation');
      const { key, record } = generateApiKey(name, Date.now(), { allowImpersonation });
      await store.create(record);
      const scope = allowImpersonation ? ' It may impersonate users (MSCRMCallerID, CallerObjectId).' : '';
      console.log(
        `Created API key ${record.keyId} ("${name}").${scope} It is shown only now; store it as a secret:\n\n${key}\n`,
      );
      return 0;
    }
    if (command === 'list') {
      const keys = await store.list();
      if (keys.length === 0) console.log('No API keys.');
      for (const k of keys) {
        const state = k.revokedAt ? `revoked ${new Date(k.revokedAt).toISOString()}` : 'active';
        const impersonation = k.allowImpersonation ? 'impersonation' : 'no-impersonation';
        console.log(`${k.keyId}  ${new Date(k.createdAt).toISOString()}  ${state}  ${impersonation}  ${k.name}`);
      }
      return 0;
    }
    if (command === 'revoke' && rest[0]) {
      const revoked = await store.revoke(rest[0], Date.now());
      console.log(revoked ? `Revoked ${rest[0]}.` : `No active key ${rest[0]}.`);
      return revoked ? 0 : 1;
    }
    console.error(usage);
    return 2;
  } finally {
    client.destroy();
  }
}

process.exitCode = await main(process.argv.slice(2));
