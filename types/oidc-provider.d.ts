/** The parts of oidc-provider (no bundled types) that the interop tests use. */
declare module 'oidc-provider' {
  import type { Server } from 'node:http';

  interface Account {
    accountId: string;
    claims(): Promise<Record<string, unknown>>;
  }

  export interface Configuration {
    clients?: Record<string, unknown>[];
    jwks?: { keys: Record<string, unknown>[] };
    clientAuthMethods?: string[];
    enabledJWA?: { clientAuthSigningAlgValues?: string[] };
    pkce?: { required?: (ctx: unknown, client: unknown) => boolean };
    rotateRefreshToken?: boolean | ((ctx: unknown) => boolean);
    scopes?: string[];
    findAccount?: (ctx: unknown, sub: string) => Promise<Account | undefined>;
    [option: string]: unknown;
  }

  export default class Provider {
    constructor(issuer: string, configuration?: Configuration);
    issuer: string;
    listen(port: number, host?: string): Server;
    use(middleware: (ctx: never, next: () => Promise<void>) => Promise<void> | void): void;
  }
}
