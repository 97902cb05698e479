import { randomBytes } from 'node:crypto';
import { DynamicsWebApi } from 'dynamics-web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AVERY, startStandIn, type StandInHarness } from '../support/dataverse.ts';

let h: StandInHarness;
let api: DynamicsWebApi;
beforeAll(async () => {
  h = await startStandIn();
  const token = await h.token();
  api = new DynamicsWebApi({
    serverUrl: h.dataverse.url,
    onTokenRefresh: async () => token,
    dataApi: { version: '9.2' },
  });
  for (let i = 0; i < 7; i++) h.dataverse.insert('accounts', { name: `Client ${i}`, accountnumber: `C-${i}` });
});
afterAll(async () => h?.stop());

/** The most used JavaScript Dataverse client, pointed at the stand-in directly: what it sends must work. */
describe('Dataverse stand-in with dynamics-web-api', () => {
  it('retrieveAll follows nextLink over several pages', async () => {
    const all = await api.retrieveAll<{ name: string }>({
      collection: 'accounts',
      select: ['name'],
      filter: "startswith(name,'Client')",
      maxPageSize: 3,
    });
    expect(all.value.map((r) => r.name).sort()).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `Client ${i}`));
  });

  it('fetchAll pages a FetchXML query with the paging cookie', async () => {
    const fetchXml =
      '<fetch count="3"><entity name="account"><attribute name="name"/><filter><condition attribute="name" operator="like" value="Client%"/></filter><order attribute="name"/></entity></fetch>';
    const all = await api.fetchAll<{ name: string }>({ collection: 'accounts', fetchXml });
    expect(all.value.map((r) => r.name)).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `Client ${i}`));
  });

  it('create, update, upsert, retrieve, count and delete', async () => {
    const created = await api.create<{ name: string }, { accountid: string; name: string }>({
      collection: 'accounts',
      data: { name: 'Via client' },
      returnRepresentation: true,
    });
    expect(created.name).toBe('Via client');
    await api.update({ collection: 'accounts', key: created.accountid, data: { name: 'Renamed via client' } });
    await api.upsert({ collection: 'accounts', key: "accountnumber='UP-1'", data: { name: 'Upserted via client' } });
    const upserted = await api.retrieve<{ name: string }>({
      collection: 'accounts',
      key: "accountnumber='UP-1'",
      select: ['name'],
    });
    expect(upserted.name).toBe('Upserted via client');
    expect(await api.count({ collection: 'accounts', filter: "contains(name,'via client')" })).toBe(2);
    await api.deleteRecord({ collection: 'accounts', key: created.accountid });
    await expect(api.retrieve({ collection: 'accounts', key: created.accountid })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('a $batch changeset with a Content-ID reference', async () => {
    api.startBatch();
    await api.create({ collection: 'accounts', data: { name: 'Batch via client' }, contentId: '1' });
    await api.create({
      collection: 'contacts',
      data: { lastname: 'Batched', 'parentcustomerid_account@odata.bind': '$1' },
    });
    const results = await api.executeBatch();
    expect(results).toHaveLength(2);
    const account = await api.retrieveMultiple<{ contact_customer_accounts: { lastname: string }[] }>({
      collection: 'accounts',
      filter: "name eq 'Batch via client'",
      select: ['name'],
      expand: [{ property: 'contact_customer_accounts', select: ['lastname'] }],
    });
    expect(account.value[0]!.contact_customer_accounts.map((c) => c.lastname)).toEqual(['Batched']);
  });

  it('uploads and downloads a file column in chunks', async () => {
    const id = h.dataverse.insert('accounts', { name: 'With file' }).id;
    const data = randomBytes(5 * 1024 * 1024);
    await api.uploadFile({ collection: 'accounts', key: id, property: 'sample_document', fileName: 'big.bin', data });
    const downloaded = await api.downloadFile({ collection: 'accounts', key: id, property: 'sample_document' });
    expect(downloaded.fileName).toBe('big.bin');
    expect(Buffer.from(downloaded.data as Uint8Array).equals(data)).toBe(true);
  });

  it('impersonates with impersonate, and shows Dataverse’s error message', async () => {
    const who = await api.callFunction<{ UserId: string }>({ name: 'WhoAmI', impersonate: AVERY.systemuserid });
    expect(who.UserId).toBe(AVERY.systemuserid);
    await expect(api.retrieveMultiple({ collection: 'accounts', filter: 'nosuch eq 1' })).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining("Could not find a property named 'nosuch'"),
    });
  });
});
