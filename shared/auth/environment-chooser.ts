import { ServiceError } from '../errors/service-error.ts';
import { randomToken, sha256 } from '../crypto/random.ts';
import { escapeHtml, htmlPage } from '../http/html.ts';
import type { HttpResponse } from '../http/response.ts';
import { logger } from '../observability/logger.ts';
import type { Services } from '../runtime.ts';
import type { DataverseEnvironment, EnvironmentChoice, Session } from '../stores/model.ts';
import { environmentOriginOfUrl } from './environment-choice.ts';
import { publicBase } from '../config/config.ts';

/** The chooser's path; the form posts back to it. */
export const CHOOSER_PATH = '/connect/environment';

const invalidChoice = () =>
  new ServiceError(
    'invalid_choice_token',
    'This environment choice is unknown, expired or was already made; connect again.',
  );

function withParams(base: string, params: Record<string, string>): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

/** Where the browser lands once the connection is complete. */
export const connectedUrl = (returnTo: string, connectionId: string) =>
  withParams(returnTo, { connectionId, status: 'connected' });

/**
 * A one-time choice for a just-stored connection that has no environment yet: the chooser URL the
 * callback sends the browser to. Its token (256 bits, stored only as SHA-256) is the page's CSRF
 * guard: only the browser that completed this sign-in has it, and it may set only this connection.
 */
export async function startEnvironmentChoice(
  services: Pick<Services, 'config' | 'connectSessions' | 'now'>,
  connection: Session,
  returnTo: string,
): Promise<string> {
  const token = randomToken();
  await services.connectSessions.saveChoice({
    id: sha256(token),
    connectionRowId: connection.id,
    connectionId: connection.connection!.connectionId,
    returnTo,
    expiresAt: Math.floor(services.now() / 1000) + services.config.pendingLoginTtlSeconds,
  });
  return withParams(`${publicBase(services.config)}${CHOOSER_PATH}`, { token });
}

async function openChoice(
  services: Pick<Services, 'connectSessions' | 'now'>,
  token: unknown,
  consume: boolean,
): Promise<EnvironmentChoice> {
  if (typeof token !== 'string' || token.length === 0 || token.length > 128) throw invalidChoice();
  const nowSeconds = Math.floor(services.now() / 1000);
  const choice = consume
    ? await services.connectSessions.consumeChoice(sha256(token), nowSeconds)
    : await services.connectSessions.findChoice(sha256(token), nowSeconds);
  if (!choice) throw invalidChoice();
  return choice;
}

async function connectionOf(services: Pick<Services, 'sessions' | 'now'>, choice: EnvironmentChoice): Promise<Session> {
  const row = await services.sessions.get(choice.connectionRowId, Math.floor(services.now() / 1000));
  // Reconnected or deleted meanwhile: the choice belongs to a grant that is gone.
  if (!row?.connection || row.connection.connectionId !== choice.connectionId) throw invalidChoice();
  return row;
}

function chooserPage(
  services: Pick<Services, 'config'>,
  token: string,
  environments: DataverseEnvironment[],
): HttpResponse {
  const options = environments
    .map((e, i) => {
      const id = `environment-${i}`;
      return (
        `<label for="${id}"><input type="radio" id="${id}" name="environment" value="${escapeHtml(e.url)}" required${i === 0 ? ' checked' : ''}> ` +
        `${escapeHtml(e.friendlyName)} <small>(${escapeHtml(e.url)})</small></label>`
      );
    })
    .join('');
  const action = `${publicBase(services.config)}${CHOOSER_PATH}`;
  return htmlPage(
    services.config,
    200,
    'Choose an environment',
    `<h1>Choose an environment</h1><p>Your account can use more than one Dynamics 365 environment. Choose the one to connect.</p>` +
      `<form method="post" action="${escapeHtml(action)}"><input type="hidden" name="token" value="${escapeHtml(token)}">` +
      `<fieldset><legend>Environment</legend>${options}</fieldset><button type="submit">Connect this environment</button></form>`,
  );
}

/**
 * GET /connect/environment?token= — the connected user's environments (listed by the callback with
 * the sign-in's own discovery token and stored on the connection) as a form; reloading it is harmless.
 */
export async function showEnvironmentChooser(
  services: Pick<Services, 'config' | 'connectSessions' | 'sessions' | 'now'>,
  token: unknown,
): Promise<HttpResponse> {
  const choice = await openChoice(services, token, false);
  const connection = await connectionOf(services, choice);
  return chooserPage(services, token as string, connection.discovered?.environments ?? []);
}

/**
 * POST /connect/environment (form: token, environment) — stores the chosen environment with the
 * connection: it must be one of the connection's discovered environments (403 otherwise), and the
 * token is spent only by a valid choice.
 */
export async function chooseEnvironment(
  services: Pick<Services, 'config' | 'connectSessions' | 'sessions' | 'now'>,
  form: URLSearchParams,
): Promise<string> {
  const token = form.get('token') ?? undefined;
  const pending = await openChoice(services, token, false);
  const origin = environmentOriginOfUrl(services.config, form.get('environment') ?? undefined);
  const connection = await connectionOf(services, pending);
  if (!connection.discovered?.environments.some((e) => e.url === origin)) {
    throw new ServiceError(
      'environment_not_allowed',
      'This environment is not one of the connected user’s environments.',
    );
  }
  const choice = await openChoice(services, token, true);
  await services.sessions.setDefaultEnvironment(connection.id, origin);
  logger.info('connection environment chosen', { connectionId: choice.connectionId });
  return connectedUrl(choice.returnTo, choice.connectionId);
}
