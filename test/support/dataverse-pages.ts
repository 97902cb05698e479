/**
 * Realistic Dataverse pages for size and speed measurements: a page of accounts as the Web API
 * returns it with `Prefer: odata.include-annotations="*"` (formatted values, lookup names, etags,
 * most columns null), deterministic for a given seed. About 4 KB per row.
 */

/** A small deterministic PRNG (mulberry32), so every run measures the same bytes. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'Contoso',
  'Fabrikam',
  'Northwind',
  'Litware',
  'Adventure',
  'Works',
  'Trey',
  'Research',
  'Blue',
  'Yonder',
  'Airlines',
  'Coho',
  'Winery',
  'Alpine',
  'Ski',
  'House',
  'Tailspin',
  'Toys',
  'Wingtip',
  'Margie',
];
const CITIES = [
  'Seattle',
  'Redmond',
  'London',
  'Paris',
  'Zürich',
  'München',
  'São Paulo',
  'Tokyo',
  'Sydney',
  'Toronto',
];
const NULL_COLUMNS = [
  'address2_line1',
  'address2_line2',
  'address2_line3',
  'address2_city',
  'address2_stateorprovince',
  'address2_postalcode',
  'address2_country',
  'address2_county',
  'address2_fax',
  'address2_telephone1',
  'address2_telephone2',
  'address2_latitude',
  'address2_longitude',
  'address2_name',
  'address2_postofficebox',
  'address2_upszone',
  'address2_utcoffset',
  'fax',
  'ftpsiteurl',
  'telephone2',
  'telephone3',
  'emailaddress2',
  'emailaddress3',
  'tickersymbol',
  'stockexchange',
  'sic',
  'yominame',
  'aging30',
  'aging60',
  'aging90',
  'marketcap',
  'sharesoutstanding',
  'traversedpath',
  'timezoneruleversionnumber',
  'utcconversiontimezonecode',
  'overriddencreatedon',
  'importsequencenumber',
  'lastonholdtime',
  'onholdtime',
  'processid',
  'stageid',
  'entityimage_url',
  'entityimageid',
  '_masterid_value',
  '_parentaccountid_value',
  '_preferredsystemuserid_value',
  '_primarycontactid_value',
  '_slaid_value',
  '_slainvokedid_value',
  '_territoryid_value',
  '_originatingleadid_value',
  '_defaultpricelevelid_value',
  '_createdonbehalfby_value',
  '_modifiedonbehalfby_value',
];

const guid = (next: () => number) =>
  'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, (c) => {
    const r = Math.floor(next() * 16);
    return (c === 'x' ? r : (r & 0x3) | 0x8).toString(16);
  });

/** One account row as Dataverse serializes it (JSON text; decimals keep their four places). */
function accountRow(next: () => number, i: number, origin: string): string {
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  const name = `${pick(WORDS)} ${pick(WORDS)} ${i}`;
  const revenue = (next() * 1e9).toFixed(4);
  const employees = Math.floor(next() * 100_000);
  const owner = guid(next);
  const fields: [string, string][] = [
    ['@odata.etag', JSON.stringify(`W/"${100_000_000 + Math.floor(next() * 1e8)}"`)],
    ['accountid', JSON.stringify(guid(next))],
    ['name', JSON.stringify(name)],
    ['accountnumber', JSON.stringify(`ACC-${String(i).padStart(6, '0')}`)],
    ['address1_line1', JSON.stringify(`${Math.floor(next() * 9999)} ${pick(WORDS)} Street`)],
    ['address1_city', JSON.stringify(pick(CITIES))],
    ['address1_postalcode', JSON.stringify(String(10000 + Math.floor(next() * 89999)))],
    ['address1_country', JSON.stringify('Switzerland')],
    ['address1_composite', JSON.stringify(`${pick(WORDS)} Street\r\n${pick(CITIES)}\r\nSwitzerland`)],
    ['address1_latitude', (next() * 180 - 90).toFixed(5)],
    ['address1_longitude', (next() * 360 - 180).toFixed(5)],
    [
      'telephone1',
      JSON.stringify(
        `+41 44 ${Math.floor(next() * 900 + 100)} ${Math.floor(next() * 90 + 10)} ${Math.floor(next() * 90 + 10)}`,
      ),
    ],
    ['emailaddress1', JSON.stringify(`info${i}@${name.split(' ')[0]!.toLowerCase()}.example.com`)],
    ['websiteurl', JSON.stringify(`https://www.${name.split(' ')[1]!.toLowerCase()}.example.com/`)],
    // A text column that happens to hold a Web API URL: record data, never mapped.
    [
      'description',
      JSON.stringify(
        `Key account since ${2000 + (i % 25)}. See ${origin}/api/data/v9.2/accounts(${owner}) for the parent record. ${pick(WORDS)} ${pick(WORDS)} ${pick(WORDS)} ${pick(WORDS)}.`,
      ),
    ],
    ['revenue', revenue],
    [
      'revenue@OData.Community.Display.V1.FormattedValue',
      JSON.stringify(
        `CHF${Number(revenue).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`,
      ),
    ],
    ['revenue_base', revenue],
    [
      'revenue_base@OData.Community.Display.V1.FormattedValue',
      JSON.stringify(
        `CHF${Number(revenue).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`,
      ),
    ],
    ['creditlimit', (next() * 1e6).toFixed(4)],
    ['exchangerate', '1.000000000000'],
    ['numberofemployees', String(employees)],
    ['numberofemployees@OData.Community.Display.V1.FormattedValue', JSON.stringify(employees.toLocaleString('en-US'))],
    // Larger than 2^53: a JSON.parse round trip would change it.
    ['versionnumber', String(9_007_199_254_740_993n + BigInt(i))],
    ['statecode', '0'],
    ['statecode@OData.Community.Display.V1.FormattedValue', '"Active"'],
    ['statuscode', '1'],
    ['statuscode@OData.Community.Display.V1.FormattedValue', '"Active"'],
    ['industrycode', String(1 + Math.floor(next() * 30))],
    [
      'industrycode@OData.Community.Display.V1.FormattedValue',
      JSON.stringify(pick(['Accounting', 'Consulting', 'Manufacturing', 'Retail', 'Financial'])),
    ],
    [
      'createdon',
      JSON.stringify(new Date(1_600_000_000_000 + Math.floor(next() * 1e11)).toISOString().replace(/\.\d+Z$/, 'Z')),
    ],
    ['createdon@OData.Community.Display.V1.FormattedValue', '"3/14/2024 9:26 AM"'],
    [
      'modifiedon',
      JSON.stringify(new Date(1_700_000_000_000 + Math.floor(next() * 1e10)).toISOString().replace(/\.\d+Z$/, 'Z')),
    ],
    ['modifiedon@OData.Community.Display.V1.FormattedValue', '"11/2/2026 4:05 PM"'],
    ['_ownerid_value', JSON.stringify(owner)],
    ['_ownerid_value@OData.Community.Display.V1.FormattedValue', JSON.stringify(`${pick(WORDS)} ${pick(WORDS)}`)],
    ['_ownerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty', '"ownerid"'],
    ['_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname', '"systemuser"'],
    ['_owningbusinessunit_value', JSON.stringify(guid(next))],
    ['_owningbusinessunit_value@Microsoft.Dynamics.CRM.lookuplogicalname', '"businessunit"'],
    ['_transactioncurrencyid_value', JSON.stringify(guid(next))],
    ['_transactioncurrencyid_value@OData.Community.Display.V1.FormattedValue', '"Swiss Franc"'],
    ['_transactioncurrencyid_value@Microsoft.Dynamics.CRM.lookuplogicalname', '"transactioncurrency"'],
    ...NULL_COLUMNS.map((c): [string, string] => [c, 'null']),
  ];
  return `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

/**
 * A page of `rows` accounts at `origin` (Dataverse's own origin, as the Web API writes its
 * annotations), with `@odata.nextLink` when `next` is given.
 */
export function accountsPage(options: { rows: number; origin: string; seed?: number; nextSkipToken?: string }): string {
  const next = random(options.seed ?? 42);
  const rows: string[] = [];
  for (let i = 0; i < options.rows; i++) rows.push(accountRow(next, i, options.origin));
  const base = `${options.origin}/api/data/v9.2/`;
  const nextLink = options.nextSkipToken
    ? `,"@odata.nextLink":${JSON.stringify(`${base}accounts?$skiptoken=${encodeURIComponent(options.nextSkipToken)}`)}`
    : '';
  return `{"@odata.context":"${base}$metadata#accounts","@Microsoft.Dynamics.CRM.totalrecordcount":-1,"@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded":false,"value":[${rows.join(',')}]${nextLink}}`;
}
