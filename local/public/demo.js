// The demo page: a browser client of the service. It holds no token; the HttpOnly session cookie
// rides along, and state-changing calls send X-CSRF: 1 as the service requires.
const $ = (id) => document.getElementById(id);

/** The Web API base: the chosen environment's `/orgs/{host}/…`, or the default environment's `/api/data/…`. */
function api() {
  const host = $('environment').value;
  // A host (`org.crm.dynamics.com`, or `127.0.0.1:port` locally) holds only path-safe characters.
  return host ? `/orgs/${host}/api/data/v9.2` : '/api/data/v9.2';
}

function show(status, body) {
  $('response-status').textContent = status;
  $('output').textContent = typeof body === 'string' ? body : JSON.stringify(body, null, 2);
}

async function call(method, path, body, extraHeaders = {}) {
  const headers = { Accept: 'application/json', ...extraHeaders };
  if (method !== 'GET') headers['X-CSRF'] = '1';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : '';
  } catch {
    /* not JSON: show as text */
  }
  show(`${method} ${path} → ${response.status}`, parsed);
  return { status: response.status, body: parsed, headers: response.headers };
}

async function loadSession() {
  const response = await fetch('/auth/session', { credentials: 'same-origin' });
  const signedIn = response.ok;
  const body = await response.json();
  $('status').textContent = signedIn
    ? `Signed in as ${body.user.name ?? body.user.username} (${body.user.username ?? body.user.oid}) until ${new Date(body.expiresAt).toLocaleString()}`
    : 'Not signed in';
  $('status').dataset.state = signedIn ? 'signed-in' : 'signed-out';
  for (const button of document.querySelectorAll('[data-needs-session]')) button.disabled = !signedIn;
  $('signin').disabled = signedIn;
  await loadEnvironments(signedIn);
}

/**
 * Lists the user's environments (GET /auth/environments) in the picker. A service without that
 * route (404/501) or without discovery leaves the picker hidden: calls go to the default environment.
 */
async function loadEnvironments(signedIn) {
  const picker = $('environment-picker');
  const select = $('environment');
  const chosen = select.value;
  select.replaceChildren(option('Default environment', ''));
  picker.hidden = true;
  if (!signedIn) return;
  const response = await fetch('/auth/environments', {
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  });
  if (!response.ok) return;
  const body = await response.json().catch(() => undefined);
  const list = Array.isArray(body) ? body : (body?.environments ?? body?.value ?? []);
  for (const environment of list) {
    const url = environment.url ?? environment.Url;
    if (typeof url !== 'string') continue;
    const link = document.createElement('a');
    link.href = url;
    const host = link.host;
    if (!/^[a-z0-9.-]+(:\d+)?$/.test(host)) continue;
    const name =
      environment.friendlyName ?? environment.FriendlyName ?? environment.uniqueName ?? environment.UniqueName ?? host;
    select.append(option(`${name} (${host})`, host));
  }
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : '';
  picker.hidden = select.options.length < 2;
}

function option(text, value) {
  const item = document.createElement('option');
  item.textContent = text;
  item.value = value;
  return item;
}

$('signin').addEventListener('click', () => {
  location.href = `/auth/login?returnTo=${encodeURIComponent(`${location.origin}/`)}`;
});
$('whoami').addEventListener('click', () => call('GET', `${api()}/WhoAmI`));
$('list').addEventListener('click', async () => {
  const { status, body } = await call('GET', `${api()}/accounts?$select=name&$top=20`);
  const list = $('accounts');
  list.replaceChildren();
  if (status === 200) {
    for (const account of body.value) {
      const item = document.createElement('li');
      item.textContent = account.name;
      list.append(item);
    }
  }
});
$('create').addEventListener('click', async () => {
  const created = $('created');
  created.hidden = true;
  // Dataverse returns the created record with 201 when asked to (Prefer: return=representation).
  const { status, body } = await call(
    'POST',
    `${api()}/accounts`,
    { name: $('account-name').value },
    { Prefer: 'return=representation' },
  );
  if (status === 201 && body && typeof body === 'object') {
    created.textContent = `Created account “${body.name}” (${body.accountid})`;
    created.hidden = false;
  }
});
$('refresh').addEventListener('click', () => call('POST', '/auth/refresh'));
$('signout').addEventListener('click', async () => {
  const { status, body } = await call('POST', '/auth/logout');
  if (status === 200) {
    $('accounts').replaceChildren();
    $('created').hidden = true;
    // OIDC RP-Initiated Logout: the provider ends its own session too, then returns to this page.
    if (typeof body.logoutUrl === 'string') {
      location.assign(body.logoutUrl);
      return;
    }
    await loadSession();
    show('Signed out', body);
  }
});

/** A managed connection's sign-in lands here as `?connectionId=…&status=connected` (its returnTo). */
function showConnectionResult() {
  const params = new URLSearchParams(location.search);
  if (params.get('status') !== 'connected') return;
  const notice = $('notice');
  notice.textContent = `Connection “${params.get('connectionId') ?? ''}” connected (status=connected).`;
  notice.hidden = false;
}

showConnectionResult();
loadSession().catch((err) => show('Error', String(err)));
