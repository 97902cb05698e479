import { DataverseStandIn, STAND_IN_USERS } from '../../local/dataverse.ts';
import { startDevIdentityProvider, type DevIdentityProvider } from '../../local/idp.ts';

export const [DANA, AVERY, CASEY] = STAND_IN_USERS as [
  (typeof STAND_IN_USERS)[number],
  (typeof STAND_IN_USERS)[number],
  (typeof STAND_IN_USERS)[number],
];

export interface StandInAnswer {
  status: number;
  headers: Headers;
  text: string;
  bytes: Buffer;
  json(): Record<string, unknown>;
}

export interface StandInHarness {
  idp: DevIdentityProvider;
  dataverse: DataverseStandIn;
  /** `<stand-in>/api/data/v9.2/` */
  root: string;
  /** An access token signed by the dev IdP; by default for Dana and for the stand-in's own URL. */
  token(claims?: { oid?: string; aud?: string }): Promise<string>;
  /** Calls the stand-in directly with a token it accepts (or the one given). */
  call(
    method: string,
    path: string,
    init?: { headers?: Record<string, string>; body?: string | Buffer; token?: string },
  ): Promise<StandInAnswer>;
  stop(): Promise<void>;
}

/** The dev IdP and the Dataverse stand-in on loopback, with no service in between. */
export async function startStandIn(): Promise<StandInHarness> {
  const idp = await startDevIdentityProvider();
  const dataverse = new DataverseStandIn({ issuer: idp.issuer });
  await dataverse.start();
  const root = `${dataverse.url}/api/data/v9.2/`;
  const token = (claims: { oid?: string; aud?: string } = {}) =>
    idp.server.issuer.buildToken({
      scopesOrTransform: (_header: unknown, payload: Record<string, unknown>) => {
        const oid = claims.oid ?? DANA.azureactivedirectoryobjectid;
        Object.assign(payload, { oid, sub: oid, aud: claims.aud ?? dataverse.url, scp: 'user_impersonation' });
      },
    });
  const defaultToken = await token();
  const call: StandInHarness['call'] = async (method, path, init = {}) => {
    const url = /^https?:/.test(path) ? path : `${root}${path}`;
    const response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${init.token ?? defaultToken}`, ...init.headers },
      body: typeof init.body === 'string' ? init.body : init.body && new Uint8Array(init.body),
      signal: AbortSignal.timeout(10_000),
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    const text = bytes.toString('utf8');
    return {
      status: response.status,
      headers: response.headers,
      text,
      bytes,
      json: () => JSON.parse(text) as Record<string, unknown>,
    };
  };
  return {
    idp,
    dataverse,
    root,
    token,
    call,
    stop: async () => {
      await dataverse.stop();
      await idp.stop();
    },
  };
}

/** `?fetchXml=` with the query URL-encoded, as a client sends it. */
export function fetchXmlQuery(xml: string): string {
  return `fetchXml=${encodeURIComponent(xml)}`;
}
