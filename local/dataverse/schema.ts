import { DEV_USER } from '../idp.ts';

/** The column types the stand-in checks values against (Dataverse's Edm types, simplified). */
export type ColumnType =
  'string' | 'decimal' | 'integer' | 'boolean' | 'guid' | 'datetime' | 'lookup' | 'file' | 'image';

export interface Column {
  type: ColumnType;
  /** Set by the service, not by a client (key, audit columns, lookups' `_x_value`, computed names). */
  readOnly?: boolean;
}

/** A single-valued navigation property: `nav@odata.bind` sets the lookup column `_nav_value`. */
export interface LookupNavigation {
  column: string;
  target: string;
}

/** A collection-valued navigation property: records of `set` whose `column` names this record. */
export interface CollectionNavigation {
  set: string;
  column: string;
}

export interface EntitySetSchema {
  set: string;
  /** Logical name (`account`), used in messages, `@odata.context` types and FetchXML. */
  logicalName: string;
  key: string;
  /** Alternate keys the environment defines (`accounts(accountnumber='A-1')`). */
  alternateKeys: string[];
  columns: Record<string, Column>;
  lookups: Record<string, LookupNavigation>;
  collections: Record<string, CollectionNavigation>;
}

const audit = {
  createdon: { type: 'datetime', readOnly: true },
  modifiedon: { type: 'datetime', readOnly: true },
  versionnumber: { type: 'integer', readOnly: true },
  _createdby_value: { type: 'lookup', readOnly: true },
} satisfies Record<string, Column>;

/** The tables of the stand-in: a subset of Dataverse's account and contact with their relationships. */
export const ENTITY_SETS: Record<string, EntitySetSchema> = {
  accounts: {
    set: 'accounts',
    logicalName: 'account',
    key: 'accountid',
    alternateKeys: ['accountnumber'],
    columns: {
      accountid: { type: 'guid' },
      name: { type: 'string' },
      accountnumber: { type: 'string' },
      revenue: { type: 'decimal' },
      numberofemployees: { type: 'integer' },
      telephone1: { type: 'string' },
      emailaddress1: { type: 'string' },
      websiteurl: { type: 'string' },
      description: { type: 'string' },
      donotemail: { type: 'boolean' },
      statecode: { type: 'integer' },
      _primarycontactid_value: { type: 'lookup', readOnly: true },
      _parentaccountid_value: { type: 'lookup', readOnly: true },
      entityimage: { type: 'image', readOnly: true },
      sample_document: { type: 'file', readOnly: true },
      sample_document_name: { type: 'string', readOnly: true },
      ...audit,
    },
    lookups: {
      primarycontactid: { column: '_primarycontactid_value', target: 'contacts' },
      parentaccountid: { column: '_parentaccountid_value', target: 'accounts' },
    },
    collections: {
      contact_customer_accounts: { set: 'contacts', column: '_parentcustomerid_value' },
      Account_Parent_Account: { set: 'accounts', column: '_parentaccountid_value' },
    },
  },
  contacts: {
    set: 'contacts',
    logicalName: 'contact',
    key: 'contactid',
    alternateKeys: ['emailaddress1'],
    columns: {
      contactid: { type: 'guid' },
      firstname: { type: 'string' },
      lastname: { type: 'string' },
      fullname: { type: 'string', readOnly: true },
      emailaddress1: { type: 'string' },
      jobtitle: { type: 'string' },
      telephone1: { type: 'string' },
      _parentcustomerid_value: { type: 'lookup', readOnly: true },
      ...audit,
    },
    lookups: {
      parentcustomerid_account: { column: '_parentcustomerid_value', target: 'accounts' },
    },
    collections: {},
  },
};

/** The entity set whose logical name is `logicalName` (FetchXML names entities by logical name). */
export function setByLogicalName(logicalName: string): EntitySetSchema | undefined {
  return Object.values(ENTITY_SETS).find((s) => s.logicalName === logicalName);
}

/** Columns a plain GET returns when no `$select` is given (binary columns come only from their own URL). */
export function defaultColumns(schema: EntitySetSchema): string[] {
  return Object.entries(schema.columns)
    .filter(([, c]) => c.type !== 'image')
    .map(([name]) => name);
}

/** A user of the environment (systemuser). */
export interface StandInUser {
  systemuserid: string;
  /** Entra object id (`oid` claim); `CallerObjectId` names users by it. */
  azureactivedirectoryobjectid: string;
  fullname: string;
  /** prvActOnBehalfOfAnotherUser: may impersonate other users (MSCRMCallerID / CallerObjectId). */
  canImpersonate: boolean;
}

/** Users present at start: one may impersonate, one may be impersonated, one lacks the privilege. */
export const SEEDED_USERS: readonly StandInUser[] = [
  {
    systemuserid: '5e1c0a3b-0000-4000-8000-00000000d001',
    azureactivedirectoryobjectid: DEV_USER.oid,
    fullname: DEV_USER.name,
    canImpersonate: true,
  },
  {
    systemuserid: '5e1c0a3b-0000-4000-8000-00000000a002',
    azureactivedirectoryobjectid: '22222222-3333-4444-8555-666666666666',
    fullname: 'Avery Assistant',
    canImpersonate: false,
  },
  {
    systemuserid: '5e1c0a3b-0000-4000-8000-00000000c003',
    azureactivedirectoryobjectid: '33333333-4444-4555-8666-777777777777',
    fullname: 'Casey Contractor',
    canImpersonate: false,
  },
];
