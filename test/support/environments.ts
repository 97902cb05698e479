import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { DataverseStandIn } from '../../local/dataverse.ts';
import { DEV_USER, type DevUser } from '../../local/idp.ts';
import { startTestStack, type TestStack } from './stack.ts';

/** A user of a second tenant, with an environment of their own. */
export const OTHER_TENANT_USER: DevUser = {
  oid: '22222222-3333-4444-8555-666666666666',
  tid: '77777777-6666-4555-8444-333333333333',
  name: 'Olu Other',
  preferred_username: 'olu@fabrikam.example',
};

/** A tiny Global Discovery Service: answers `Instances` for the tenant of a valid token for itself. */
export interface DiscoveryResponder {
  url: string;
  calls: number;
  stop(): Promise<void>;
}

async function startDiscoveryResponder(
  issuer: string,
  byTenant: () => Record<string, string[]>,
): Promise<DiscoveryResponder> {
  const jwks = createRemoteJWKSet(new URL(`${issuer.replace(/\/$/, '')}/jwks`));
  const responder: DiscoveryResponder = { url: '', calls: 0, stop: async () => undefined };
  const server: Server = createServer((req, res) => {
    responder.calls += 1;
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url !== '/api/discovery/v2.0/Instances') {
      reply(404, { error: { code: 'not_found', message: 'no such path' } });
      return;
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token) {
      reply(401, { error: { code: 'unauthorized', message: 'no token' } });
      return;
    }
    jwtVerify(token, jwks, { issuer, audience: responder.url })
      .then(({ payload }) => {
        const urls = byTenant()[String(payload.tid)] ?? [];
        reply(200, {
          value: urls.map((url, i) => ({
            Url: url,
            ApiUrl: null,
            FriendlyName: `Environment ${i + 1}`,
            UniqueName: `unq${i + 1}`,
            UrlName: `org${i + 1}`,
            EnvironmentId: `00000000-0000-4000-8000-00000000000${i + 1}`,
            TenantId: payload.tid,
            Region: 'NA',
            Version: '9.2.25073.00000',
            State: 0,
            // Fields the service does not list are ignored.
            OrganizationType: 0,
          })),
        });
      })
      .catch(() => reply(401, { error: { code: 'unauthorized', message: 'token not for this service' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  responder.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  responder.stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return responder;
}

export interface EnvironmentsStack {
  stack: TestStack;
  /** The first tenant's environments (A is the stack's own stand-in). */
  envA: DataverseStandIn;
  envB: DataverseStandIn;
  /** The second tenant's environment. */
  envC: DataverseStandIn;
  discovery: DiscoveryResponder;
  /** Signs the next users in as this user (undefined: the dev IdP's own user). */
  signInAs(user: DevUser | undefined): void;
  stop(): Promise<void>;
}

/**
 * A test stack with three Dataverse stand-ins on distinct loopback origins (A and B for the dev
 * user's tenant, C for OTHER_TENANT_USER's) and a discovery responder; `DYNAMICS_URL` unset unless asked.
 */
export async function startEnvironmentsStack(
  options: { dynamicsUrl?: boolean; accessTokenTtlSeconds?: number } = {},
): Promise<EnvironmentsStack> {
  let envB!: DataverseStandIn;
  let envC!: DataverseStandIn;
  let discovery!: DiscoveryResponder;
  let user: DevUser | undefined;
  const stack = await startTestStack({
    accessTokenTtlSeconds: options.accessTokenTtlSeconds,
    prepare: async ({ idp, dataverse }) => {
      envB = new DataverseStandIn({ issuer: idp.issuer });
      envC = new DataverseStandIn({ issuer: idp.issuer });
      await envB.start();
      await envC.start();
      discovery = await startDiscoveryResponder(idp.issuer, () => ({
        [DEV_USER.tid]: [dataverse.url, envB.url],
        [OTHER_TENANT_USER.tid]: [envC.url],
      }));
      // Runs after the dev IdP's own listener: the claims of the user signing in now.
      idp.server.service.on('beforeTokenSigning', (token: { payload: Record<string, unknown> }) => {
        if (user) Object.assign(token.payload, { ...user, sub: user.oid });
      });
      const hosts = [dataverse.url, envB.url, envC.url].map((u) => new URL(u).host);
      return {
        DYNAMICS_URL: options.dynamicsUrl ? dataverse.url : '',
        DISCOVERY_URL: discovery.url,
        DATAVERSE_HOSTS: hosts.join(','),
      };
    },
  });
  return {
    stack,
    envA: stack.dataverse,
    envB,
    envC,
    discovery,
    signInAs: (next) => {
      user = next;
    },
    stop: async () => {
      await envB.stop();
      await envC.stop();
      await discovery.stop();
      await stack.stop();
    },
  };
}

/** The `{host}` of a stand-in, as under `/orgs/{host}`. */
export const hostOf = (standIn: DataverseStandIn) => new URL(standIn.url).host;
