// dashboard/api.js: the admin token, kept in this tab's sessionStorage only, and the admin API called with it.
// The token goes in Authorization, never in a URL.

const TOKEN_KEY = 'proxyd-admin-token';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function keepToken(t) {
  sessionStorage.setItem(TOKEN_KEY, t);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// Resolves with { status, ok, etag, json } whatever the status; rejects only when
// the admin listener could not be reached.
export async function api(method, path, body, headers) {
  const init = {
    method,
    headers: Object.assign({ Authorization: 'Bearer ' + token() }, headers || {}),
    cache: 'no-store',
  };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (e) {
    json = null;
  }
  return { status: res.status, ok: res.ok, etag: res.headers.get('ETag'), json };
}

// /services/<name>. A name that is a dot-segment would be resolved away by the
// URL parser (even as %2E): null, so that it is never sent somewhere else.
export function servicePath(name) {
  if (name === '.' || name === '..') return null;
  return '/services/' + encodeURIComponent(name);
}
