/**
 * Records what each function really touches in AWS terms while its handler runs in-process: every
 * DynamoDB command (operation and table, from the client's own middleware), every key-provider call
 * (as the KMS operation it stands for) and every read of the client credential. The infra tests
 * compare these records with each function's role in the synthesized template.
 */
import { ENCRYPTION_PURPOSE, ENCRYPTION_PURPOSE_KEY } from '../../shared/crypto/context.ts';
import type { DataKey, EncryptionContext, KeyProvider } from '../../shared/crypto/key-provider.ts';
import { createHandler, type RouteHandler } from '../../shared/http/middleware.ts';
import type { HttpResponse } from '../../shared/http/response.ts';
import { FUNCTIONS } from '../../shared/http/routes.ts';
import type { ServiceOverrides, Services } from '../../shared/runtime.ts';
import { createDynamoClient } from '../../shared/stores/dynamodb.ts';
import { apiEvent, lambdaContext, type EventInit } from './events.ts';
import type { TestStack } from './stack.ts';

/** What a function did: `dynamodb:<Operation> on <table key>`, `kms:<Operation> on key`, or CLIENT_CREDENTIAL. */
export type Access = string;
/** The client secret (or the client-assertion signing key) was used to authenticate at the IdP. */
export const CLIENT_CREDENTIAL = 'client credential';

export class AccessLog {
  private readonly byFunction = new Map<string, Set<Access>>();
  private readonly calls = new Map<string, number>();

  invoked(fn: string): void {
    this.calls.set(fn, (this.calls.get(fn) ?? 0) + 1);
  }

  invocations(fn: string): number {
    return this.calls.get(fn) ?? 0;
  }

  record(fn: string, access: Access): void {
    let set = this.byFunction.get(fn);
    if (!set) this.byFunction.set(fn, (set = new Set()));
    set.add(access);
  }

  of(fn: string): Access[] {
    return [...(this.byFunction.get(fn) ?? [])].sort();
  }
}

/** The tables a DynamoDB command names (single-item, batch and transaction shapes). */
function tableNamesOf(input: Record<string, unknown>): string[] {
  const names = new Set<string>();
  if (typeof input.TableName === 'string') names.add(input.TableName);
  if (input.RequestItems && typeof input.RequestItems === 'object')
    Object.keys(input.RequestItems).forEach((t) => names.add(t));
  for (const item of (input.TransactItems as Record<string, { TableName?: string }>[] | undefined) ?? []) {
    for (const part of Object.values(item)) if (part?.TableName) names.add(part.TableName);
  }
  return [...names];
}

/** `key` for the session tokens' context; `key (<purpose>)` for any other purpose (e.g. webhook secrets). */
export function keyUse(context: EncryptionContext): string {
  const purpose = context[ENCRYPTION_PURPOSE_KEY];
  return purpose === ENCRYPTION_PURPOSE ? 'key' : `key (${purpose ?? 'no purpose'})`;
}

/** A key provider that records each call under the KMS operation it stands for (shared/crypto/kms-key-provider.ts). */
class RecordingKeyProvider implements KeyProvider {
  constructor(
    private readonly inner: KeyProvider,
    private readonly record: (op: string) => void,
  ) {}

  generateDataKey(context: EncryptionContext): Promise<DataKey> {
    this.record(`kms:GenerateDataKey on ${keyUse(context)}`);
    return this.inner.generateDataKey(context);
  }

  decryptDataKey(encrypted: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    this.record(`kms:Decrypt on ${keyUse(context)}`);
    return this.inner.decryptDataKey(encrypted, context);
  }
}

type RouteFactory = (services: () => Services) => RouteHandler;

/** `connect-start` → `connectStartRoute`: the route factory each functions/<name>/handler.ts exports. */
function routeExportOf(name: string): string {
  return `${name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())}Route`;
}

/** Every function of shared/http/routes.ts with its handler's route factory (functions/<name>/handler.ts). */
export async function loadRouteFactories(): Promise<Map<string, RouteFactory>> {
  const out = new Map<string, RouteFactory>();
  for (const { name } of FUNCTIONS) {
    const module = (await import(`../../functions/${name}/handler.ts`)) as Record<string, unknown>;
    const factory = module[routeExportOf(name)];
    if (typeof factory !== 'function')
      throw new Error(`functions/${name}/handler.ts exports no ${routeExportOf(name)}`);
    out.set(name, factory as RouteFactory);
  }
  return out;
}

export type Call = (fn: string, init: EventInit) => Promise<HttpResponse>;

/**
 * Invokes functions in-process on a test stack, each through its own runtime whose DynamoDB client,
 * key provider and client secret record into `log` under that function's name.
 */
export function recordingInvoker(
  stack: TestStack,
  factories: Map<string, RouteFactory>,
  log: AccessLog,
  options: { clientSecret: () => Promise<string | undefined>; overrides?: ServiceOverrides },
): { call: Call; stop(): void } {
  const tableKeys: Record<string, string> = {
    [stack.config.pendingLoginsTable]: 'pendingLogins',
    [stack.config.sessionsTable]: 'sessions',
    [stack.config.apiKeysTable]: 'apiKeys',
  };
  const clients: ReturnType<typeof createDynamoClient>[] = [];
  const handlers = new Map<string, ReturnType<typeof createHandler>>();
  const handlerOf = (fn: string) => {
    const known = handlers.get(fn);
    if (known) return known;
    const factory = factories.get(fn);
    if (!factory) throw new Error(`no function ${fn} in shared/http/routes.ts`);
    const dynamo = createDynamoClient({ endpoint: stack.dynamo.endpoint });
    clients.push(dynamo);
    dynamo.middlewareStack.add(
      (next, context) => async (args) => {
        const op = (context.commandName ?? 'unknown').replace(/Command$/, '');
        for (const table of tableNamesOf(args.input as Record<string, unknown>)) {
          log.record(fn, `dynamodb:${op} on ${tableKeys[table] ?? table}`);
        }
        return next(args);
      },
      { step: 'initialize', name: 'recordTableAccess' },
    );
    const services = stack.newInstance({
      ...options.overrides,
      dynamo,
      keyProvider: new RecordingKeyProvider(stack.keyProvider, (access) => log.record(fn, access)),
      clientSecret: () => {
        log.record(fn, CLIENT_CREDENTIAL);
        return options.clientSecret();
      },
    });
    const handler = createHandler(factory(() => services));
    handlers.set(fn, handler);
    return handler;
  };
  return {
    call: async (fn, init) => {
      log.invoked(fn);
      return await handlerOf(fn)(apiEvent(init), lambdaContext());
    },
    stop: () => clients.forEach((c) => c.destroy()),
  };
}
