/// The console's `core.js`: API helpers, the session (sign-in, sign-out), the hash router, the nav and the buckets page.
enum ConsoleCoreScript {
    static let source = #"""
'use strict';
// SOS web console: core. Defines window.SOS, which objects.js and admin.js extend with pages.
(function () {
  const SOS = window.SOS = { pages: {}, session: null };
  const MiB = 1024 * 1024;

  // ---- DOM helpers (text only: data never goes through innerHTML) ----
  SOS.el = function (tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'text') node.textContent = String(value);
      else if (name === 'class') node.className = value;
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    SOS.append(node, children);
    return node;
  };
  SOS.append = function (node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  };
  // Replaces a node's children (null, false and undefined children are skipped).
  SOS.replace = (node, ...children) => { node.replaceChildren(); return SOS.append(node, children); };
  SOS.$ = (id) => document.getElementById(id);

  // Shows (or replaces) the error paragraph at the top of `container`; null clears it.
  SOS.showError = function (container, error) {
    let p = container.querySelector(':scope > p.error');
    if (!error) { if (p) p.remove(); return; }
    if (!p) { p = SOS.el('p', { class: 'error', role: 'alert' }); container.prepend(p); }
    p.textContent = error.message || String(error);
  };
  SOS.showNotice = function (container, text) {
    let p = container.querySelector(':scope > p.notice');
    if (!text) { if (p) p.remove(); return; }
    if (!p) { p = SOS.el('p', { class: 'notice', role: 'status' }); container.prepend(p); }
    p.textContent = text;
  };

  // ---- Formatting ----
  SOS.formatBytes = function (n) {
    n = Number(n) || 0;
    if (n < 1024) return n + ' B';
    const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
    let value = n, unit = -1;
    do { value /= 1024; unit += 1; } while (value >= 1024 && unit < units.length - 1);
    return (value >= 100 ? value.toFixed(0) : value.toFixed(1).replace(/\.0$/, '')) + ' ' + units[unit];
  };
  SOS.formatDate = function (text) {
    if (!text) return '';
    const date = new Date(text);
    return isNaN(date) ? String(text) : date.toLocaleString();
  };
  SOS.encodePath = (key) => key.split('/').map(encodeURIComponent).join('/');
  SOS.s3Path = (bucket, key) => '/s3/' + encodeURIComponent(bucket) + (key === undefined ? '' : '/' + SOS.encodePath(key));
  SOS.href = {
    buckets: () => '#/buckets',
    bucket: (bucket, prefix) => '#/b/' + encodeURIComponent(bucket) + '/' + SOS.encodePath(prefix || ''),
    object: (bucket, key) => '#/o/' + encodeURIComponent(bucket) + '/' + SOS.encodePath(key),
  };
  // The folder part of a key: "a/b/c.txt" -> "a/b/".
  SOS.folderOf = (key) => key.slice(0, key.lastIndexOf('/') + 1);

  // ---- HTTP ----
  class HttpError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  SOS.HttpError = HttpError;

  // Every request: the session cookie, and X-SOS-Console on anything that changes something.
  // A 401 shows the sign-in form (unless the caller handles it, as sign-in does).
  SOS.request = async function (method, path, options) {
    options = options || {};
    const headers = Object.assign({}, options.headers || {});
    if (method !== 'GET' && method !== 'HEAD') headers['X-SOS-Console'] = '1';
    let response;
    try {
      response = await fetch(path, { method, headers, body: options.body, credentials: 'same-origin', cache: 'no-store' });
    } catch (error) {
      throw new HttpError(0, 'The console could not reach the server: ' + error.message);
    }
    if (response.status === 401 && !options.allow401) {
      SOS.showSignIn('Your session has ended: sign in again.');
      throw new HttpError(401, 'Not signed in.');
    }
    return response;
  };

  // JSON API call: returns the parsed answer (null for 204), throws HttpError with the {"error"} message.
  SOS.api = async function (method, path, body, options) {
    const init = Object.assign({}, options || {});
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'Content-Type': 'application/json' };
    }
    const response = await SOS.request(method, path, init);
    const text = await response.text();
    let data = null;
    if (text) { try { data = JSON.parse(text); } catch (e) { data = null; } }
    if (!response.ok) {
      const message = data && data.error ? data.error : response.status + ' ' + response.statusText;
      throw new HttpError(response.status, message);
    }
    return data;
  };

  SOS.parseXML = (text) => new DOMParser().parseFromString(text, 'application/xml');
  // The text of the first element named `name` under `node` (S3 XML has a default namespace:
  // getElementsByTagName matches the qualified name, which has no prefix).
  SOS.xmlText = function (node, name) {
    const found = node.getElementsByTagName(name)[0];
    return found ? found.textContent : '';
  };
  // The message of an S3 XML error body, or the HTTP status.
  function docErrorMessage(doc) {
    const code = SOS.xmlText(doc, 'Code'), message = SOS.xmlText(doc, 'Message');
    return [code, message].filter(Boolean).join(': ');
  }
  SOS.s3ErrorMessage = function (status, statusText, text) {
    const message = text ? docErrorMessage(SOS.parseXML(text)) : '';
    if (message) return message;
    if (status === 403) return 'Access denied.';
    if (status === 404) return 'Not found.';
    return (status + ' ' + (statusText || '')).trim();
  };
  // An S3 request through /s3/: returns the response, throws HttpError with S3's error message.
  SOS.s3 = async function (method, path, options) {
    const response = await SOS.request(method, path, options);
    if (!response.ok) {
      const text = method === 'HEAD' ? '' : await response.text();
      throw new HttpError(response.status, SOS.s3ErrorMessage(response.status, response.statusText, text));
    }
    return response;
  };
  SOS.s3XML = async function (method, path, options) {
    const response = await SOS.s3(method, path, options);
    const doc = SOS.parseXML(await response.text());
    if (doc.documentElement.nodeName === 'Error') {
      throw new HttpError(response.status, docErrorMessage(doc) || 'The server answered with an error.');
    }
    return doc;
  };

  // ---- Session ----
  function showOnly(signedIn) {
    SOS.$('loading').hidden = true;
    SOS.$('signin-section').hidden = signedIn;
    SOS.$('nav').hidden = !signedIn;
    SOS.$('account').hidden = !signedIn;
    SOS.$('view').hidden = !signedIn;
  }

  SOS.showSignIn = function (message) {
    leaveRoute();
    SOS.session = null;
    SOS.$('view').replaceChildren();
    SOS.$('nav').replaceChildren();
    SOS.$('whoami').textContent = '';
    const wasHidden = SOS.$('signin-section').hidden;
    showOnly(false);
    SOS.$('signin-error').textContent = message || '';
    SOS.$('secret-key').value = '';
    if (wasHidden) SOS.$('access-key').focus();
  };

  function showApp(session) {
    SOS.session = { accessKey: session.accessKey, isRoot: !!session.isRoot };
    SOS.$('whoami').textContent = session.accessKey + (session.isRoot ? ' (root)' : '');
    const links = [SOS.el('a', { href: '#/buckets', 'data-route': 'buckets', text: 'Buckets' })];
    if (session.isRoot) {
      links.push(SOS.el('a', { href: '#/cluster', id: 'nav-cluster', 'data-route': 'cluster', text: 'Cluster' }));
      links.push(SOS.el('a', { href: '#/keys', id: 'nav-keys', 'data-route': 'keys', text: 'Access keys' }));
    }
    SOS.$('nav').replaceChildren(...links);
    SOS.$('signin-error').textContent = '';
    showOnly(true);
    route();
  }

  async function signIn(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const button = form.querySelector('button[type="submit"]');
    const secretField = SOS.$('secret-key');
    // The secret goes straight into the request body and leaves the page at once.
    const body = JSON.stringify({ accessKey: SOS.$('access-key').value.trim(), secretKey: secretField.value });
    secretField.value = '';
    SOS.$('signin-error').textContent = '';
    button.disabled = true;
    try {
      const response = await SOS.request('POST', '/api/session', {
        body, headers: { 'Content-Type': 'application/json' }, allow401: true,
      });
      const data = await response.json().catch(() => null);
      if (!response.ok) {
        const message = data && data.error ? data.error : response.status + ' ' + response.statusText;
        throw new HttpError(response.status, response.status === 401 ? 'Sign-in failed: ' + message : message);
      }
      showApp(data);
    } catch (error) {
      SOS.$('signin-error').textContent = error.message;
      secretField.focus();
    } finally {
      button.disabled = false;
    }
  }

  async function signOut() {
    try { await SOS.request('DELETE', '/api/session', { allow401: true }); } catch (error) { /* signed out anyway */ }
    SOS.showSignIn('');
    history.replaceState(null, '', location.pathname + location.search + '#/buckets');
  }

  // ---- Router ----
  let leaveHooks = [];
  // A page registers what to stop (timers) when the route changes.
  SOS.onLeave = (hook) => { leaveHooks.push(hook); };
  function leaveRoute() {
    const hooks = leaveHooks;
    leaveHooks = [];
    for (const hook of hooks) { try { hook(); } catch (error) { /* ignore */ } }
  }

  function decode(part) { try { return decodeURIComponent(part); } catch (error) { return part; } }

  // #/buckets, #/b/BUCKET/PREFIX, #/o/BUCKET/KEY, #/cluster, #/keys.
  SOS.parseRoute = function (hash) {
    const parts = hash.replace(/^#\/?/, '').split('/');
    const name = parts[0] || 'buckets';
    if (name === 'b') return { name: 'bucket', bucket: decode(parts[1] || ''), prefix: parts.slice(2).map(decode).join('/') };
    if (name === 'o') return { name: 'object', bucket: decode(parts[1] || ''), key: parts.slice(2).map(decode).join('/') };
    return { name };
  };

  function route() {
    if (!SOS.session) return;
    leaveRoute();
    const current = SOS.parseRoute(location.hash);
    const section = { bucket: 'buckets', object: 'buckets' }[current.name] || current.name;
    for (const link of SOS.$('nav').querySelectorAll('a')) {
      if (link.dataset.route === section) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    // Each route renders into a fresh container: a slow answer for a page left behind lands nowhere.
    const container = SOS.el('div', { class: 'page' });
    SOS.$('view').replaceChildren(container);
    const page = SOS.pages[current.name];
    const incomplete = (current.name === 'bucket' && !current.bucket) || (current.name === 'object' && !(current.bucket && current.key));
    if (!page || incomplete) {
      document.title = 'Not found - SOS console';
      SOS.append(container, [SOS.el('h1', { text: 'Page not found' }),
        SOS.el('p', {}, SOS.el('a', { href: '#/buckets', text: 'Go to the buckets' }))]);
      return;
    }
    Promise.resolve()
      .then(() => page(container, current))
      .catch((error) => { if (error.status !== 401) SOS.showError(container, error); });
  }
  SOS.route = route;

  // ---- Buckets page ----
  SOS.pages.buckets = async function (view) {
    document.title = 'Buckets - SOS console';
    const list = SOS.el('div', { class: 'bucket-list' }, SOS.el('p', { class: 'muted', text: 'Loading buckets\u2026' }));
    const input = SOS.el('input', { id: 'new-bucket', name: 'bucket', type: 'text', required: true,
      autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
    const form = SOS.el('form', { id: 'create-bucket', class: 'inline-form' },
      SOS.el('label', { for: 'new-bucket', text: 'New bucket' }), input,
      SOS.el('button', { type: 'submit', text: 'Create' }));
    SOS.append(view, [SOS.el('h1', { text: 'Buckets' }), list, SOS.el('h2', { text: 'Create a bucket' }), form]);

    async function load() {
      const data = await SOS.api('GET', '/api/buckets');
      const buckets = (data && data.buckets) || [];
      const rows = buckets.map((bucket) => SOS.el('tr', { 'data-bucket': bucket.name },
        SOS.el('th', { scope: 'row' }, SOS.el('a', { href: SOS.href.bucket(bucket.name, ''), text: bucket.name })),
        SOS.el('td', { class: 'number', text: Number(bucket.objects || 0).toLocaleString() }),
        SOS.el('td', { class: 'number', text: SOS.formatBytes(bucket.bytes) }),
        SOS.el('td', { text: bucket.versioning || '\u2014' }),
        SOS.el('td', { text: bucket.objectLock ? 'on' : '\u2014' }),
        SOS.el('td', {}, SOS.el('button', { type: 'button', class: 'delete-bucket', 'data-bucket': bucket.name,
          'aria-label': 'Delete bucket ' + bucket.name, text: 'Delete', onclick: () => remove(bucket.name) }))));
      const table = SOS.el('table', { id: 'buckets' },
        SOS.el('caption', { class: 'visually-hidden', text: 'Buckets' }),
        SOS.el('thead', {}, SOS.el('tr', {}, ['Name', 'Objects', 'Size', 'Versioning', 'Object Lock', 'Actions']
          .map((title) => SOS.el('th', { scope: 'col', text: title })))),
        SOS.el('tbody', {}, rows));
      list.replaceChildren(table);
      if (!buckets.length) list.append(SOS.el('p', { class: 'muted', text: 'No buckets yet.' }));
    }

    async function remove(name) {
      if (!window.confirm('Delete the bucket "' + name + '"? Only an empty bucket can be deleted.')) return;
      SOS.showError(view, null);
      try {
        await SOS.s3('DELETE', SOS.s3Path(name));
        SOS.showNotice(view, 'Deleted the bucket ' + name + '.');
        await load();
      } catch (error) {
        if (error.status !== 401) SOS.showError(view, error);
      }
    }

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const name = input.value.trim();
      if (!name) return;
      SOS.showError(view, null);
      SOS.showNotice(view, null);
      try {
        await SOS.s3('PUT', SOS.s3Path(name));
        input.value = '';
        SOS.showNotice(view, 'Created the bucket ' + name + '.');
        await load();
      } catch (error) {
        if (error.status !== 401) SOS.showError(view, error);
      }
    });

    await load();
  };

  // ---- Start ----
  async function start() {
    SOS.$('signin').addEventListener('submit', signIn);
    SOS.$('signout').addEventListener('click', signOut);
    window.addEventListener('hashchange', route);
    try {
      const response = await SOS.request('GET', '/api/session', { allow401: true });
      if (response.ok) return showApp(await response.json());
      SOS.showSignIn(response.status === 401 ? '' : 'The server answered ' + response.status + '.');
    } catch (error) {
      SOS.showSignIn(error.message);
    }
  }
  // Scripts are deferred: the other pages register before DOMContentLoaded.
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
"""#
}
