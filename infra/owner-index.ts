import { AttributeType, ProjectionType, type Table, type TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { TableDefinition } from '../shared/stores/tables.ts';

/**
 * Adds a table's owner index (the Sessions table's ByTenant: revocation by tenant and user) when its
 * definition has one. Keys only: an index item is the row's id and the two keys, written when a row
 * is created or deleted, never by the updates of the warm path or a refresh (which change neither
 * key). One index per table: CloudFormation creates at most one GSI per table update.
 */
export function addOwnerIndex(table: Table | TableV2, def: TableDefinition): void {
  const index = def.ownerIndex;
  if (!index) return;
  table.addGlobalSecondaryIndex({
    indexName: index.indexName,
    partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
    sortKey: { name: index.sortKey, type: AttributeType.STRING },
    projectionType: ProjectionType.KEYS_ONLY,
  });
}
