import { DataverseStandIn } from './dataverse.ts';
import { DiscoveryStandIn } from './discovery.ts';
import { DEV_USER, DEV_USER_OTHER_TENANT } from './idp.ts';

/** One development Dataverse environment: its stand-in and how Global Discovery lists it. */
export interface LocalEnvironment {
  uniqueName: string;
  friendlyName: string;
  tenantId: string;
  /** The stand-in; `dataverse.url` is the environment URL (token audience), `dataverse.apiUrl` its Web API origin. */
  dataverse: DataverseStandIn;
}

export interface LocalEnvironments {
  /** Contoso's two environments (Dana's tenant), then Fabrikam's (the other tenant's user). */
  environments: LocalEnvironment[];
  discovery: DiscoveryStandIn;
  /** `host:port` of every environment origin (URL and Web API), for `DATAVERSE_HOSTS`. */
  hosts: string[];
  stop: () => Promise<void>;
}

/**
 * The environments local mode serves, each on its own loopback origin with its own records and
 * taking only tokens for its own URL and tenant: `contoso` (also on a separate Web API origin, like
 * `<org>.api.crm.dynamics.com`) and `contoso-sandbox` in Dana's tenant, `fabrikam` in the other
 * tenant; and the Global Discovery stand-in that lists each user's own.
 */
export async function startLocalEnvironments(issuer: string): Promise<LocalEnvironments> {
  const specs = [
    { uniqueName: 'contoso', friendlyName: 'Contoso', tenantId: DEV_USER.tid, seedAccounts: 3, apiOrigin: true },
    {
      uniqueName: 'contoso-sandbox',
      friendlyName: 'Contoso Sandbox',
      tenantId: DEV_USER.tid,
      seedAccounts: 1,
      apiOrigin: false,
    },
    {
      uniqueName: 'fabrikam',
      friendlyName: 'Fabrikam',
      tenantId: DEV_USER_OTHER_TENANT.tid,
      seedAccounts: 0,
      apiOrigin: false,
    },
  ];
  const started: { stop(): Promise<void> }[] = [];
  const stop = async () => {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
  };
  try {
    const environments: LocalEnvironment[] = [];
    for (const { seedAccounts, apiOrigin, ...spec } of specs) {
      const dataverse = new DataverseStandIn({ issuer, seedAccounts, apiOrigin, tenantId: spec.tenantId });
      await dataverse.start();
      started.push(dataverse);
      environments.push({ ...spec, dataverse });
    }
    // Fabrikam's records differ from Contoso's, so a call that reaches the wrong environment shows.
    for (const name of ['Fabrikam Fiber', 'Fabrikam Residences'])
      environments[2]!.dataverse.insert('accounts', { name, revenue: 99_000 });
    const discovery = new DiscoveryStandIn({
      issuer,
      environments: environments.map((e) => ({
        url: e.dataverse.url,
        apiUrl: e.dataverse.apiUrl,
        uniqueName: e.uniqueName,
        friendlyName: e.friendlyName,
        tenantId: e.tenantId,
      })),
    });
    await discovery.start();
    started.push(discovery);
    const hosts = [
      ...new Set(environments.flatMap((e) => [e.dataverse.url, e.dataverse.apiUrl]).map((u) => new URL(u).host)),
    ];
    return { environments, discovery, hosts, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
