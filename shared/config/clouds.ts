/**
 * Microsoft's clouds: each has its own sign-in host, Global Discovery Service and Dataverse hosts.
 * Sources: "National clouds" (Microsoft identity platform: authentication endpoints per cloud),
 * "Discover user organizations" (Dataverse: the Global Discovery Service URL per cloud) and
 * "Power Apps US Government" (the environment URLs of GCC, GCC High and DoD).
 */
export type EntraCloud = 'commercial' | 'gcc' | 'usg' | 'dod' | 'china';

export interface CloudSettings {
  /** The Entra sign-in host (authority host). */
  loginHost: string;
  /** Other hosts Entra of this cloud publishes as issuer (China's discovery document names the partner host). */
  issuerHosts: readonly string[];
  /** The Global Discovery Service base URL. */
  discoveryUrl: string;
  /** Dataverse environment host patterns (`*` = exactly one DNS label). */
  dataverseHosts: readonly string[];
}

/** Commercial regions: `crm` (North America), `crm2`…`crm21` (other regions; `crm9` is GCC). */
const COMMERCIAL_REGIONS = [
  'crm',
  ...Array.from({ length: 21 }, (_, i) => `crm${i + 1}`).filter((r) => r !== 'crm1' && r !== 'crm9'),
];

export const CLOUDS: Readonly<Record<EntraCloud, CloudSettings>> = {
  commercial: {
    loginHost: 'login.microsoftonline.com',
    issuerHosts: ['login.microsoftonline.com'],
    discoveryUrl: 'https://globaldisco.crm.dynamics.com',
    dataverseHosts: COMMERCIAL_REGIONS.map((region) => `*.${region}.dynamics.com`),
  },
  // GCC signs in at the commercial Entra, with its own Dataverse hosts.
  gcc: {
    loginHost: 'login.microsoftonline.com',
    issuerHosts: ['login.microsoftonline.com'],
    discoveryUrl: 'https://globaldisco.crm9.dynamics.com',
    dataverseHosts: ['*.crm9.dynamics.com'],
  },
  // USG is GCC High.
  usg: {
    loginHost: 'login.microsoftonline.us',
    issuerHosts: ['login.microsoftonline.us'],
    discoveryUrl: 'https://globaldisco.crm.microsoftdynamics.us',
    dataverseHosts: ['*.crm.microsoftdynamics.us'],
  },
  dod: {
    loginHost: 'login.microsoftonline.us',
    issuerHosts: ['login.microsoftonline.us'],
    discoveryUrl: 'https://globaldisco.crm.appsplatform.us',
    dataverseHosts: ['*.crm.appsplatform.us'],
  },
  // Operated by 21Vianet: login.chinacloudapi.cn is the older name of the same service.
  china: {
    loginHost: 'login.partner.microsoftonline.cn',
    issuerHosts: ['login.partner.microsoftonline.cn', 'login.chinacloudapi.cn'],
    discoveryUrl: 'https://globaldisco.crm.dynamics.cn',
    dataverseHosts: ['*.crm.dynamics.cn'],
  },
};

export const ENTRA_CLOUDS = Object.keys(CLOUDS) as EntraCloud[];

/** Every Entra sign-in host of every cloud (the multi-tenant issuer rules apply to these). */
export const ENTRA_LOGIN_HOSTS: ReadonlySet<string> = new Set(
  Object.values(CLOUDS).flatMap((c) => [c.loginHost, ...c.issuerHosts]),
);

/** The multi-tenant work-account authority of a cloud (Microsoft identity platform: `organizations`). */
export function defaultEntraAuthority(cloud: EntraCloud): string {
  return `https://${CLOUDS[cloud].loginHost}/organizations/v2.0`;
}
