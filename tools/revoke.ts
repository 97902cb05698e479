/**
 * Cutting a user or a whole tenant off at once (docs/revocation.md):
 *   npm run admin -- sessions revoke (--tenant <tid> [--user <oid>] | --user <oid>) [--scan]
 *   npm run admin -- connections revoke (--tenant <tid> [--user <oid>] | --user <oid>) [--scan]
 * Uses SESSIONS_TABLE (default Sessions) with the environment's AWS credentials and region, or
 * DYNAMODB_ENDPOINT in local mode. Needs dynamodb:Query and Scan on the table and its ByTenant
 * index, and dynamodb:DeleteItem on the table (the operator's credentials, not the service's).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoSessionStore } from '../shared/stores/dynamodb.ts';
import type { RowOwner } from '../shared/stores/model.ts';
import { revokeRows, type RevocationLookup } from '../shared/stores/revocation.ts';
import { SESSIONS_BY_TENANT_INDEX, SESSIONS_TABLE, type SessionRowKind } from '../shared/stores/tables.ts';

export const revokeUsage =
  'usage: admin sessions revoke (--tenant <tid> [--user <oid>] | --user <oid>) [--scan]\n' +
  '       admin connections revoke (--tenant <tid> [--user <oid>] | --user <oid>) [--scan]\n' +
  '  <tid>, <oid>: the Entra tenant id and user object id (GUIDs, as in the id_token claims)';

/** Entra's tenant and object ids are GUIDs (8-4-4-4-12 hex digits). */
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const FLAGS_WITH_VALUE = new Set(['--tenant', '--user']);
const FLAGS = new Set([...FLAGS_WITH_VALUE, '--scan']);

type Output = { log: (line: string) => void; error: (line: string) => void };

export interface RevokeDeps {
  client: DynamoDBClient;
  tableName: string;
  /** Items per Query/Scan page (tests set a small one). */
  pageSize?: number;
}

/** Parses `revoke --tenant … --user … --scan`; a string is the usage error to print. */
export function parseRevocation(kind: SessionRowKind, args: string[]): { owner: RowOwner; scan: boolean } | string {
  const [command, ...rest] = args;
  if (command !== 'revoke') return revokeUsage;
  const values = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i]!;
    if (!FLAGS.has(flag) || values.has(flag))
      return `unknown or repeated option ${JSON.stringify(flag.slice(0, 40))}\n${revokeUsage}`;
    if (!FLAGS_WITH_VALUE.has(flag)) {
      values.set(flag, '');
      continue;
    }
    const value = rest[++i];
    if (value === undefined || !GUID.test(value)) {
      return `${flag} needs a GUID (e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47), got ${value === undefined ? 'nothing' : JSON.stringify(value.slice(0, 40))}\n${revokeUsage}`;
    }
    // Entra writes GUIDs in lower case in tokens; the rows hold the claims as issued.
    values.set(flag, value.toLowerCase());
  }
  const tenantId = values.get('--tenant');
  const userId = values.get('--user');
  if (tenantId === undefined && userId === undefined)
    return `${kind === 'session' ? 'sessions' : 'connections'} revoke needs --tenant or --user\n${revokeUsage}`;
  return { owner: { kind, tenantId, userId }, scan: values.has('--scan') };
}

const LOOKUP_NOTE: Record<RevocationLookup, string> = {
  'index-query': `Found through the ${SESSIONS_BY_TENANT_INDEX.indexName} index; rows written before it existed are not in it: run again with --scan to include them.`,
  'index-scan': `Found by scanning the ${SESSIONS_BY_TENANT_INDEX.indexName} index (no --tenant given; --tenant makes it a Query); rows written before it existed are not in it: run again with --scan to include them.`,
  'table-scan': 'Found by scanning the whole table (includes rows written before the index existed).',
};

/** `sessions revoke …` / `connections revoke …`: deletes the rows and says how many. */
export async function revokeCommand(
  kind: SessionRowKind,
  args: string[],
  deps: RevokeDeps,
  out: Output = console,
): Promise<number> {
  const parsed = parseRevocation(kind, args);
  if (typeof parsed === 'string') {
    out.error(parsed);
    return 2;
  }
  const { owner, scan } = parsed;
  // The same store method the connection-delete route uses, so a revocation is an ordinary delete.
  const store = new DynamoSessionStore(deps.client, deps.tableName);
  try {
    const result = await revokeRows(deps.client, deps.tableName, store, owner, { scan, pageSize: deps.pageSize });
    const what =
      kind === 'session'
        ? result.revoked === 1
          ? 'session'
          : 'sessions'
        : result.revoked === 1
          ? 'connection'
          : 'connections';
    out.log(`Revoked ${result.revoked} ${what} of ${describe(owner)}.`);
    out.log(LOOKUP_NOTE[result.lookup]);
    return 0;
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'ValidationException' && !scan && /index/i.test((err as Error).message)) {
      out.error(
        `Table ${deps.tableName} has no ${SESSIONS_BY_TENANT_INDEX.indexName} index yet (deploy the current construct), or run again with --scan.`,
      );
      return 1;
    }
    out.error(`Revocation failed (${name}); rows deleted before the failure stay deleted. Run it again to finish.`);
    return 1;
  }
}

function describe(owner: RowOwner): string {
  if (owner.userId !== undefined && owner.tenantId !== undefined)
    return `user ${owner.userId} in tenant ${owner.tenantId}`;
  return owner.userId !== undefined ? `user ${owner.userId}` : `tenant ${owner.tenantId}`;
}

export const defaultSessionsTable = () => process.env[SESSIONS_TABLE.envVar] ?? SESSIONS_TABLE.logicalName;
