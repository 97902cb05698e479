// The demo page: a browser client of the service. It holds no token; the HttpOnly session cookie
// rides along, and state-changing calls send X-CSRF: 1 as the service requires.
const $ = (id) => document.getElementById(id);
const API = '/api/data/v9.2';

function show(status, body) {
  $('response-status').textContent = status;
  $('output').textContent = typeof body === 'string' ? body : JSON.stringify(body, null, 2);
}

async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
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
}

$('signin').addEventListener('click', () => {
  location.href = `/auth/login?returnTo=${encodeURIComponent(`${location.origin}/`)}`;
});
$('whoami').addEventListener('click', () => call('GET', `${API}/WhoAmI`));
$('list').addEventListener('click', async () => {
  const { status, body } = await call('GET', `${API}/accounts?$select=name&$top=20`);
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
  await call('POST', `${API}/accounts`, { name: $('account-name').value });
});
$('refresh').addEventListener('click', () => call('POST', '/auth/refresh'));
$('signout').addEventListener('click', async () => {
  const { status, body } = await call('POST', '/auth/logout');
  if (status === 200) {
    $('accounts').replaceChildren();
    await loadSession();
    show('Signed out', body);
  }
});

loadSession().catch((err) => show('Error', String(err)));
