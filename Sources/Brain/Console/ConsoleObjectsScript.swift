/// The console's `objects.js`: the bucket browser, uploads (single PUT or resumable multipart), the object page and share links.
enum ConsoleObjectsScript {
    static let source = #"""
'use strict';
// SOS web console: bucket browser, uploads, object page, share links. Registers pages on window.SOS.
(function () {
  const SOS = window.SOS;
  const el = SOS.el;
  const MiB = 1024 * 1024;
  const SINGLE_PUT_MAX = 16 * MiB;  // larger files go up as a multipart upload
  const PART_SIZE = 8 * MiB;
  const PART_RETRIES = 3;           // a failed part is sent again up to 3 times
  const PAGE_SIZE = 100;
  const PARALLEL_UPLOADS = 3;

  const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const basename = (key) => key.replace(/\/+$/, '').split('/').pop() || key;

  // Buckets > bucket > folder/ > ... (> the object's name on an object page).
  function breadcrumb(bucket, prefix, objectName) {
    const items = [el('li', {}, el('a', { href: '#/buckets', text: 'Buckets' })),
      el('li', {}, el('a', { href: SOS.href.bucket(bucket, ''), text: bucket }))];
    let path = '';
    for (const part of prefix.split('/').slice(0, -1)) {
      path += part + '/';
      items.push(el('li', {}, el('a', { href: SOS.href.bucket(bucket, path), text: part + '/' })));
    }
    if (objectName !== undefined) items.push(el('li', {}, el('span', { text: objectName })));
    const last = items[items.length - 1].firstChild;
    last.setAttribute('aria-current', 'page');
    return el('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, el('ol', {}, items));
  }

  // ---- Bucket browser: #/b/BUCKET/PREFIX ----
  SOS.pages.bucket = async function (view, route) {
    const { bucket, prefix } = route;
    document.title = bucket + '/' + prefix + ' - SOS console';
    const state = { search: prefix, tokens: [''], page: 0 };

    const searchInput = el('input', { id: 'search-prefix', name: 'prefix', type: 'search', autocomplete: 'off', spellcheck: 'false' });
    const searchForm = el('form', { id: 'search', class: 'inline-form', role: 'search' },
      el('label', { for: 'search-prefix', text: 'Search by prefix' }),
      prefix ? el('span', { class: 'prefix', text: prefix }) : null, searchInput,
      el('button', { type: 'submit', text: 'Search' }));
    const listing = el('div', { class: 'listing' }, el('p', { class: 'muted', text: 'Loading\u2026' }));
    const filesInput = el('input', { type: 'file', id: 'upload-files', multiple: true });
    const folderInput = el('input', { type: 'file', id: 'upload-folder', webkitdirectory: true, multiple: true });
    const dropzone = el('div', { id: 'dropzone' },
      el('p', { text: 'Drop files or folders here, or choose them:' }),
      el('div', { class: 'field' }, el('label', { for: 'upload-files', text: 'Upload files' }), filesInput),
      el('div', { class: 'field' }, el('label', { for: 'upload-folder', text: 'Upload a folder' }), folderInput),
      el('p', { class: 'muted', text: 'Uploads go under ' + (prefix ? '"' + prefix + '"' : 'the bucket root') + '.' }));
    const uploadList = el('ul', { id: 'uploads', 'aria-label': 'Uploads' });
    SOS.append(view, [el('h1', { text: bucket }), breadcrumb(bucket, prefix),
      el('h2', { class: 'visually-hidden', text: 'Upload' }), dropzone, uploadList,
      el('h2', { class: 'visually-hidden', text: 'Contents' }), searchForm, listing]);

    async function list() {
      const token = state.tokens[state.page];
      let query = '?list-type=2&delimiter=%2F&prefix=' + encodeURIComponent(state.search) + '&max-keys=' + PAGE_SIZE;
      if (token) query += '&continuation-token=' + encodeURIComponent(token);
      const root = (await SOS.s3XML('GET', SOS.s3Path(bucket) + query)).documentElement;
      const folders = Array.from(root.getElementsByTagName('CommonPrefixes'), (node) => SOS.xmlText(node, 'Prefix'));
      const objects = Array.from(root.getElementsByTagName('Contents'), (node) => ({
        key: SOS.xmlText(node, 'Key'), size: SOS.xmlText(node, 'Size'), modified: SOS.xmlText(node, 'LastModified'),
      })).filter((object) => object.key !== prefix || !prefix);  // not the folder's own marker object
      const truncated = SOS.xmlText(root, 'IsTruncated') === 'true';
      state.tokens[state.page + 1] = truncated ? SOS.xmlText(root, 'NextContinuationToken') : '';
      const relative = (name) => name.startsWith(prefix) ? name.slice(prefix.length) : name;
      const rows = [
        ...folders.map((folder) => el('tr', {},
          el('th', { scope: 'row' }, el('a', { class: 'folder', href: SOS.href.bucket(bucket, folder), text: relative(folder) })),
          el('td', { class: 'number', text: '\u2014' }), el('td', { text: '' }))),
        ...objects.map((object) => el('tr', {},
          el('th', { scope: 'row' }, el('a', { class: 'object', href: SOS.href.object(bucket, object.key), text: relative(object.key) })),
          el('td', { class: 'number', title: object.size + ' bytes', text: SOS.formatBytes(object.size) }),
          el('td', { text: SOS.formatDate(object.modified) }))),
      ];
      const table = el('table', { id: 'objects' },
        el('caption', { class: 'visually-hidden', text: 'Objects and folders' }),
        el('thead', {}, el('tr', {}, ['Name', 'Size', 'Last modified'].map((title) => el('th', { scope: 'col', text: title })))),
        el('tbody', {}, rows));
      const paging = el('div', { class: 'paging' },
        state.page > 0 ? el('button', { type: 'button', id: 'first-page', text: 'First page', onclick: () => go(0) }) : null,
        truncated ? el('button', { type: 'button', id: 'next-page', text: 'Next page', onclick: () => go(state.page + 1) }) : null,
        state.page > 0 || truncated ? el('span', { class: 'muted', text: 'Page ' + (state.page + 1) }) : null);
      const searching = state.search !== prefix;
      SOS.replace(listing, table,
        rows.length ? null : el('p', { class: 'muted', text: searching ? 'Nothing matches "' + state.search.slice(prefix.length) + '".' : 'This folder is empty.' }),
        paging);
    }
    function refresh() {
      SOS.showError(view, null);
      return list().catch((error) => { if (error.status !== 401) SOS.showError(view, error); });
    }
    function go(page) {
      state.page = page;
      refresh().then(() => {
        const table = SOS.$('objects');  // back to the top of the new page if it is scrolled away
        if (table && table.getBoundingClientRect().top < 0) table.scrollIntoView({ block: 'start' });
      });
    }

    searchForm.addEventListener('submit', (event) => {
      event.preventDefault();
      state.search = prefix + searchInput.value;
      state.tokens = [''];
      go(0);
    });

    // Uploads start as soon as files are chosen or dropped; the listing refreshes when they end.
    function upload(items) {
      if (!items.length) return;
      const jobs = items.map((item) => createUpload(bucket, prefix + item.path, item.file, uploadList, refresh));
      runAll(jobs).then(refresh);
    }
    for (const input of [filesInput, folderInput]) {
      input.addEventListener('change', () => {
        const items = Array.from(input.files, (file) => ({ file, path: file.webkitRelativePath || file.name }));
        input.value = '';
        upload(items);
      });
    }
    dropzone.addEventListener('dragover', (event) => {
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
      dropzone.classList.add('dragover');
    });
    dropzone.addEventListener('dragleave', (event) => {
      if (!dropzone.contains(event.relatedTarget)) dropzone.classList.remove('dragover');
    });
    dropzone.addEventListener('drop', async (event) => {
      event.preventDefault();
      dropzone.classList.remove('dragover');
      // The items are only readable during the event: take their entries now, walk them after.
      const transfer = event.dataTransfer;
      const entries = Array.from(transfer.items || [])
        .filter((item) => item.kind === 'file')
        .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
      const plain = Array.from(transfer.files || [], (file) => ({ file, path: file.name }));
      try {
        if (entries.length && entries.every(Boolean)) upload((await Promise.all(entries.map(walkEntry))).flat());
        else upload(plain);
      } catch (error) {
        SOS.showError(view, new Error('Could not read the dropped files: ' + error.message));
      }
    });

    await list();
  };

  // Files of a dropped file or folder, with their paths relative to the drop.
  async function walkEntry(entry) {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      return [{ file, path: entry.fullPath.replace(/^\/+/, '') }];
    }
    if (!entry.isDirectory) return [];
    const reader = entry.createReader();
    const found = [];
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) return found;
      for (const child of batch) found.push(...await walkEntry(child));
    }
  }

  async function runAll(jobs) {
    let next = 0;
    const worker = async () => { while (next < jobs.length) await jobs[next++].run(); };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_UPLOADS, jobs.length) }, worker));
  }

  // One file's upload: its list item, and for a multipart upload the UploadId and the parts sent so far.
  function createUpload(bucket, key, file, list, refresh) {
    const progress = el('progress', { max: '100', value: '0', 'aria-label': 'Progress of ' + key });
    const status = el('span', { class: 'status', text: 'waiting' });
    const item = el('li', { 'data-key': key },
      el('span', { class: 'key', text: key }), el('span', { class: 'size', text: SOS.formatBytes(file.size) }), progress, status);
    list.append(item);
    const job = { bucket, key, file, progress, status, uploadId: '', etags: [] };
    job.run = async function () {
      status.textContent = 'uploading';
      try {
        if (file.size <= SINGLE_PUT_MAX) await putWhole(job);
        else await multipart(job);
        progress.value = 100;
        status.textContent = 'done';
      } catch (error) {
        status.textContent = 'failed: ' + (error.message || error);
        if (file.size > SINGLE_PUT_MAX && error.status !== 401) {
          const resume = el('button', { type: 'button', class: 'resume', text: 'Resume',
            'aria-label': 'Resume the upload of ' + key });
          resume.addEventListener('click', () => { resume.remove(); job.run().then(refresh); });
          item.append(resume);
        }
      }
    };
    return job;
  }

  // An XMLHttpRequest (fetch cannot report upload progress): resolves on 2xx, else rejects with S3's message.
  function send(method, url, body, headers, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.withCredentials = true;
      for (const [name, value] of Object.entries(headers || {})) xhr.setRequestHeader(name, value);
      xhr.setRequestHeader('X-SOS-Console', '1');
      if (onProgress) xhr.upload.onprogress = (event) => { if (event.lengthComputable) onProgress(event.loaded); };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr);
        if (xhr.status === 401) SOS.showSignIn('Your session has ended: sign in again.');
        reject(new SOS.HttpError(xhr.status, SOS.s3ErrorMessage(xhr.status, xhr.statusText, xhr.responseText)));
      };
      xhr.onerror = () => reject(new SOS.HttpError(0, 'network error'));
      xhr.onabort = () => reject(new SOS.HttpError(0, 'aborted'));
      xhr.send(body);
    });
  }

  async function putWhole(job) {
    await send('PUT', SOS.s3Path(job.bucket, job.key), job.file,
      { 'Content-Type': job.file.type || 'application/octet-stream' },
      (loaded) => { job.progress.value = job.file.size ? Math.floor(99 * loaded / job.file.size) : 99; });
  }

  const retryable = (error) => error.status === 0 || error.status === 408 || error.status === 429 || error.status >= 500;
  const xmlEscape = (text) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

  // CreateMultipartUpload (once), the parts not sent yet, then CompleteMultipartUpload.
  async function multipart(job) {
    const path = SOS.s3Path(job.bucket, job.key);
    const size = job.file.size;
    if (!job.uploadId) {
      const doc = await SOS.s3XML('POST', path + '?uploads',
        { headers: { 'Content-Type': job.file.type || 'application/octet-stream' } });
      job.uploadId = SOS.xmlText(doc, 'UploadId');
      job.etags = [];
      if (!job.uploadId) throw new Error('the server gave no UploadId');
    }
    const count = Math.ceil(size / PART_SIZE);
    const bytesOf = (n) => Math.min(PART_SIZE, size - (n - 1) * PART_SIZE);
    for (let n = 1; n <= count; n++) {
      if (job.etags[n]) continue;
      let sent = 0;
      for (let m = 1; m <= count; m++) if (job.etags[m]) sent += bytesOf(m);
      const start = (n - 1) * PART_SIZE;
      const query = '?partNumber=' + n + '&uploadId=' + encodeURIComponent(job.uploadId);
      let lastError = null;
      for (let attempt = 0; attempt <= PART_RETRIES && !job.etags[n]; attempt++) {
        if (attempt) {
          job.status.textContent = 'retrying part ' + n + ' (' + attempt + ' of ' + PART_RETRIES + ')';
          await delay(500 * attempt);
        }
        try {
          const xhr = await send('PUT', path + query, job.file.slice(start, start + bytesOf(n)), {},
            (loaded) => { job.progress.value = Math.floor(99 * (sent + loaded) / size); });
          const etag = xhr.getResponseHeader('ETag');
          if (!etag) throw new SOS.HttpError(0, 'no ETag in the answer');
          job.etags[n] = etag;
          job.status.textContent = 'uploading';
        } catch (error) {
          lastError = error;
          if (!retryable(error)) break;
        }
      }
      if (!job.etags[n]) {
        if (lastError.status === 404) job.uploadId = '';  // NoSuchUpload: a resume starts over
        throw new SOS.HttpError(lastError.status, 'part ' + n + ': ' + lastError.message);
      }
    }
    let body = '<CompleteMultipartUpload>';
    for (let n = 1; n <= count; n++) {
      const etag = job.etags[n].startsWith('"') ? job.etags[n] : '"' + job.etags[n] + '"';
      body += '<Part><PartNumber>' + n + '</PartNumber><ETag>' + xmlEscape(etag) + '</ETag></Part>';
    }
    body += '</CompleteMultipartUpload>';
    try {
      await SOS.s3XML('POST', path + '?uploadId=' + encodeURIComponent(job.uploadId),
        { body, headers: { 'Content-Type': 'application/xml' } });
    } catch (error) {
      if (error.status === 404) job.uploadId = '';
      throw error;
    }
    job.uploadId = '';
    job.etags = [];
  }

  // ---- Object page: #/o/BUCKET/KEY ----
  SOS.pages.object = async function (view, route) {
    const { bucket, key } = route;
    const name = basename(key);
    const folder = SOS.folderOf(key);
    const path = SOS.s3Path(bucket, key);
    document.title = key + ' - SOS console';
    SOS.append(view, [el('h1', { text: name }), breadcrumb(bucket, folder, name)]);

    const head = await SOS.s3('HEAD', path);
    const size = head.headers.get('Content-Length') || '0';
    const details = [['Key', key], ['Size', SOS.formatBytes(size) + ' (' + size + ' bytes)'],
      ['ETag', head.headers.get('ETag') || ''], ['Content-Type', head.headers.get('Content-Type') || ''],
      ['Last-Modified', head.headers.get('Last-Modified') || '']];
    if (head.headers.get('x-amz-version-id')) details.push(['Version ID', head.headers.get('x-amz-version-id')]);
    const metadata = [];
    head.headers.forEach((value, header) => {
      if (header.toLowerCase().startsWith('x-amz-meta-')) metadata.push([header.slice('x-amz-meta-'.length), value]);
    });
    metadata.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const list = el('dl', { id: 'object-details' },
      [...details, ...metadata].map(([term, value]) => [el('dt', { text: term }), el('dd', { text: value })]));

    const download = el('a', { id: 'download', class: 'button', href: path, download: name, text: 'Download' });
    const remove = el('button', { type: 'button', id: 'delete-object', class: 'danger', text: 'Delete' });
    remove.addEventListener('click', async () => {
      if (!window.confirm('Delete "' + key + '"?')) return;
      try {
        await SOS.s3('DELETE', path);
        location.hash = SOS.href.bucket(bucket, folder);
      } catch (error) {
        if (error.status !== 401) SOS.showError(view, error);
      }
    });
    const versions = el('section', { class: 'versions', 'aria-label': 'Versions' });
    SOS.append(view, [list, el('div', { class: 'actions' }, download, remove), versions, shareForm(view, bucket, key)]);
    showVersions(versions, bucket, key, name);
  };

  // The key's versions, when the bucket keeps any (ListObjectVersions, only entries for exactly this key).
  async function showVersions(section, bucket, key, name) {
    try {
      const doc = await SOS.s3XML('GET', SOS.s3Path(bucket) + '?versions&prefix=' + encodeURIComponent(key));
      const entries = Array.from(doc.documentElement.children)
        .filter((node) => (node.localName === 'Version' || node.localName === 'DeleteMarker') && SOS.xmlText(node, 'Key') === key)
        .map((node) => ({
          id: SOS.xmlText(node, 'VersionId') || 'null', latest: SOS.xmlText(node, 'IsLatest') === 'true',
          size: SOS.xmlText(node, 'Size'), modified: SOS.xmlText(node, 'LastModified'), marker: node.localName === 'DeleteMarker',
        }));
      if (entries.length <= 1 && entries.every((entry) => entry.id === 'null')) return;
      const rows = entries.map((entry) => el('tr', { 'data-version': entry.id },
        el('td', {}, el('code', { text: entry.id })),
        el('td', { class: 'number', text: entry.marker ? '\u2014' : SOS.formatBytes(entry.size) }),
        el('td', { text: SOS.formatDate(entry.modified) }),
        el('td', { text: entry.latest ? 'yes' : 'no' }),
        el('td', { text: entry.marker ? 'yes' : 'no' }),
        el('td', {}, entry.marker ? '\u2014' : el('a', { href: SOS.s3Path(bucket, key) + '?versionId=' + encodeURIComponent(entry.id),
          download: name, 'aria-label': 'Download version ' + entry.id, text: 'Download' }))));
      SOS.replace(section, el('h2', { text: 'Versions' }), el('table', { id: 'versions' },
        el('thead', {}, el('tr', {}, ['Version ID', 'Size', 'Last modified', 'Latest', 'Delete marker', 'Download']
          .map((title) => el('th', { scope: 'col', text: title })))),
        el('tbody', {}, rows)),
        SOS.xmlText(doc, 'IsTruncated') === 'true' ? el('p', { class: 'muted', text: 'Only the first versions are shown.' }) : null);
    } catch (error) {
      if (error.status !== 401) section.replaceChildren(el('p', { class: 'muted', text: 'Versions could not be listed: ' + error.message }));
    }
  }

  // A presigned GET on the S3 port, signed by the session's key.
  function shareForm(view, bucket, key) {
    const expiry = el('select', { id: 'share-expiry', name: 'expiresSeconds' },
      el('option', { value: '3600', selected: true, text: '1 hour' }),
      el('option', { value: '86400', text: '1 day' }),
      el('option', { value: '604800', text: '7 days' }));
    const url = el('input', { id: 'share-url', type: 'text', readonly: true, spellcheck: 'false' });
    const copy = el('button', { type: 'button', class: 'copy', text: 'Copy' });
    const note = el('p', { class: 'muted', role: 'status' });
    const result = el('div', { class: 'share-result', hidden: true },
      el('div', { class: 'field' }, el('label', { for: 'share-url', text: 'Share link' }), url, copy), note);
    const form = el('form', { id: 'share' }, el('h2', { text: 'Share' }),
      el('div', { class: 'inline-form' }, el('label', { for: 'share-expiry', text: 'Link valid for' }), expiry,
        el('button', { type: 'submit', text: 'Create share link' })), result);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      SOS.showError(view, null);
      const seconds = Number(expiry.value);
      try {
        const answer = await SOS.api('POST', '/api/presign', { bucket, key, expiresSeconds: seconds });
        url.value = answer.url;
        note.textContent = 'Anyone with this link can download the object until ' +
          new Date(Date.now() + seconds * 1000).toLocaleString() + '.';
        result.hidden = false;
        url.focus();
        url.select();
      } catch (error) {
        if (error.status !== 401) SOS.showError(view, error);
      }
    });
    copy.addEventListener('click', async () => {
      url.select();
      if (navigator.clipboard && window.isSecureContext) {
        try { await navigator.clipboard.writeText(url.value); note.textContent = 'Copied.'; return; } catch (error) { /* below */ }
      }
      note.textContent = 'Press Ctrl+C (or \u2318C) to copy the selected link.';
    });
    return form;
  }

  // Files dropped outside the drop zone would replace the console: ignore them.
  for (const type of ['dragover', 'drop']) {
    window.addEventListener(type, (event) => {
      const files = event.dataTransfer && Array.from(event.dataTransfer.types || []).includes('Files');
      if (files && !(event.target.closest && event.target.closest('#dropzone'))) event.preventDefault();
    });
  }
})();
"""#
}
