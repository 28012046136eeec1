// The one fetch + CSRF helper of the site's pages (reading page; the workspace is to use it too).
//
// Django's CSRF token is taken from the page: a `csrfmiddlewaretoken` input ({% csrf_token %}), or a
// `data-csrf` attribute on any element, or the `csrftoken` cookie, in that order. Requests are
// same-origin with the session cookie; JSON in and out.

export function csrfToken(root = document) {
  const input = root.querySelector('input[name=csrfmiddlewaretoken]');
  if (input && input.value) return input.value;
  const holder = root.querySelector('[data-csrf]');
  if (holder && holder.dataset.csrf) return holder.dataset.csrf;
  const cookie = document.cookie.split('; ').find((c) => c.startsWith('csrftoken='));
  return cookie ? decodeURIComponent(cookie.slice('csrftoken='.length)) : '';
}

/**
 * Call a JSON endpoint. Resolves to {ok, status, data}; `data` is the parsed JSON body, or
 * `{detail: "<status> <text>"}` for a non-JSON error. Rejects only when the network fails.
 *
 * @param {string} url
 * @param {object} [options]  method (default GET, POST when a body is given), body (an object, sent
 *                            as JSON, or FormData, sent as multipart), keepalive, csrf (token override)
 */
export async function apiFetch(url, { method, body = null, keepalive = false, csrf } = {}) {
  const multipart = typeof FormData !== 'undefined' && body instanceof FormData;
  const headers = { Accept: 'application/json', 'X-CSRFToken': csrf ?? csrfToken() };
  if (body !== null && !multipart) headers['Content-Type'] = 'application/json';
  const response = await fetch(url, {
    method: method || (body === null ? 'GET' : 'POST'),
    credentials: 'same-origin',
    keepalive,
    headers,
    body: body === null ? null : multipart ? body : JSON.stringify(body),
  });
  let data = null;
  const type = response.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
  }
  if (data === null) data = response.ok ? {} : { detail: `${response.status} ${response.statusText}` };
  return { ok: response.ok, status: response.status, data };
}
