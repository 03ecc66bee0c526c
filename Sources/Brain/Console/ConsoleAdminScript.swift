/// The console's `admin.js`: the cluster page (agents, replication health, drain, rebalance) and the access keys page, for the root key.
enum ConsoleAdminScript {
    static let source = #"""
'use strict';
// SOS web console: cluster and access keys pages (root only). Registers pages on window.SOS.
(function () {
  const SOS = window.SOS;
  const el = SOS.el;
  const REFRESH_MS = 2000;

  // ---- Cluster page: #/cluster, refreshed every 2 seconds while it is shown ----
  SOS.pages.cluster = async function (view) {
    document.title = 'Cluster - SOS console';
    const value = (id) => el('span', { id, class: 'value', text: '\u2026' });
    const summary = el('section', { id: 'cluster-summary', 'aria-label': 'Summary' },
      el('dl', { class: 'summary' },
        el('div', {}, el('dt', { text: 'Replication' }), el('dd', {}, value('cluster-replication'))),
        el('div', {}, el('dt', { text: 'Chunks' }), el('dd', {}, value('cluster-chunks'))),
        el('div', {}, el('dt', { text: 'Under-replicated chunks' }), el('dd', {}, value('under-replicated'))),
        el('div', {}, el('dt', { text: 'Unavailable chunks' }), el('dd', {}, value('unavailable'))),
        el('div', { class: 'wide' }, el('dt', { text: 'Repair' }), el('dd', {}, value('cluster-repair'))),
        el('div', { class: 'wide' }, el('dt', { text: 'Rebalance' }), el('dd', {}, value('cluster-rebalance')))));
    const rebalance = el('button', { type: 'button', id: 'rebalance', text: 'Rebalance' });
    const body = el('tbody');
    const table = el('table', { id: 'agents' },
      el('caption', { class: 'visually-hidden', text: 'Storage agents' }),
      el('thead', {}, el('tr', {}, ['Agent', 'State', 'Zone', 'Address', 'Capacity', 'Chunks', 'Referenced chunks',
        'Last heartbeat', 'Draining', 'Actions'].map((title) => el('th', { scope: 'col', text: title })))),
      body);
    const updated = el('p', { class: 'muted', id: 'cluster-updated' });
    SOS.append(view, [el('h1', { text: 'Cluster' }), summary, el('div', { class: 'actions' }, rebalance),
      el('h2', { text: 'Storage agents' }), table, updated]);

    let timer = null, active = true;
    SOS.onLeave(() => { active = false; clearTimeout(timer); });
    const set = (id, text) => { const node = view.querySelector('#' + id); if (node) node.textContent = String(text); };

    function agentRow(agent) {
      const drain = el('button', { type: 'button', class: 'drain', 'data-agent': agent.id, 'aria-label': 'Drain ' + agent.id, text: 'Drain' });
      drain.addEventListener('click', () => act(
        'Drain ' + agent.id + '? Its chunks are copied to other agents; it then gets no new chunks.',
        () => SOS.api('POST', '/api/cluster/drain', { agent: agent.id }), 'Draining ' + agent.id + '.'));
      return el('tr', { 'data-agent': agent.id },
        el('th', { scope: 'row', class: 'agent-id', text: agent.id }), el('td', { class: 'state' }), el('td', { class: 'zone' }),
        el('td', { class: 'address' }), el('td', { class: 'capacity' }, el('meter', { min: '0' }), el('span', { class: 'capacity-text' })),
        el('td', { class: 'chunks number' }), el('td', { class: 'referenced number' }), el('td', { class: 'heartbeat' }),
        el('td', { class: 'draining' }), el('td', {}, drain));
    }

    // Rows are updated in place (keyed by agent id) so that focus stays on a button across refreshes.
    function render(status) {
      set('cluster-replication', status.replication);
      set('cluster-chunks', status.chunks);
      set('under-replicated', status.underReplicatedChunks);
      set('unavailable', status.unavailableChunks);
      const repair = status.repair || {};
      set('cluster-repair', (repair.pendingChunks || 0) + ' pending, ' + (repair.repairedChunks || 0) + ' repaired, ' +
        (repair.failedAttempts || 0) + ' failed attempts');
      const moves = status.rebalance || {};
      set('cluster-rebalance', (moves.running ? 'running' : 'idle') + ': ' + (moves.movedChunks || 0) + ' chunks moved, ' +
        (moves.failedMoves || 0) + ' failed moves');
      rebalance.disabled = !!moves.running;
      const seen = new Set();
      for (const agent of status.agents || []) {
        seen.add(agent.id);
        let row = Array.from(body.rows).find((tr) => tr.dataset.agent === agent.id);
        if (!row) { row = agentRow(agent); body.append(row); }
        const cell = (name) => row.querySelector('td.' + name);
        const state = String(agent.state || 'unknown');
        cell('state').textContent = state;
        cell('state').className = 'state state-' + state;
        cell('zone').textContent = agent.zone || '\u2014';
        cell('address').textContent = agent.address || '\u2014';
        const meter = row.querySelector('meter');
        meter.max = Math.max(Number(agent.capacityBytes) || 0, 1);
        meter.value = Number(agent.usedBytes) || 0;
        meter.setAttribute('aria-label', 'Used capacity of ' + agent.id);
        row.querySelector('.capacity-text').textContent =
          SOS.formatBytes(agent.usedBytes) + ' of ' + SOS.formatBytes(agent.capacityBytes);
        cell('chunks').textContent = Number(agent.chunkCount || 0).toLocaleString();
        cell('referenced').textContent = Number(agent.referencedChunks || 0).toLocaleString();
        cell('heartbeat').textContent = agent.secondsSinceHeartbeat === null || agent.secondsSinceHeartbeat === undefined
          ? '\u2014' : agent.secondsSinceHeartbeat + ' s ago';
        cell('draining').textContent = agent.draining ? 'yes' : 'no';
        row.querySelector('button.drain').disabled = !!agent.draining;
      }
      for (const row of Array.from(body.rows)) if (!seen.has(row.dataset.agent)) row.remove();
      updated.textContent = 'Updated ' + new Date().toLocaleTimeString() + '; refreshes every 2 seconds.';
    }

    // One refresh loop: a refresh started by a button supersedes the one in flight.
    let generation = 0;
    async function refresh() {
      clearTimeout(timer);
      const mine = ++generation;
      try {
        const status = await SOS.api('GET', '/api/cluster');
        if (mine !== generation || !active) return;
        render(status);
        SOS.showError(view, null);
      } catch (error) {
        if (error.status === 401 || mine !== generation) return;
        SOS.showError(view, error);
        if (error.status === 403) { active = false; return; }
      }
      if (active) timer = setTimeout(refresh, REFRESH_MS);
    }

    async function act(question, call, done) {
      if (!window.confirm(question)) return;
      try {
        await call();
        SOS.showError(view, null);
        SOS.showNotice(view, done);
      } catch (error) {
        if (error.status !== 401) SOS.showError(view, error);
      }
      if (active) refresh();
    }
    rebalance.addEventListener('click', () => act(
      'Rebalance the cluster? Chunks move from fuller agents to emptier ones in the background.',
      () => SOS.api('POST', '/api/cluster/rebalance'), 'Rebalance started.'));

    await refresh();
  };

  // ---- Access keys page: #/keys ----
  // A KeyCommand as `sos admin key` sends it: every field present.
  const command = (action, fields) => Object.assign({ action, read: false, write: false, owner: false, createBucket: false }, fields);
  const keysCall = (action, fields) => SOS.api('POST', '/api/keys', command(action, fields));

  SOS.pages.keys = async function (view) {
    document.title = 'Access keys - SOS console';
    const listing = el('div', { class: 'key-list' }, el('p', { class: 'muted', text: 'Loading\u2026' }));
    const secretBox = el('div', { class: 'secret-box' });
    const nameInput = el('input', { id: 'new-key-name', name: 'name', type: 'text', required: true, maxlength: '128', autocomplete: 'off' });
    const createForm = el('form', { id: 'create-key', class: 'inline-form' },
      el('label', { for: 'new-key-name', text: 'Name' }), nameInput, el('button', { type: 'submit', text: 'Create key' }));
    const grantKey = el('select', { id: 'grant-key', name: 'accessKeyID' });
    const grantBucket = el('input', { id: 'grant-bucket', name: 'bucket', type: 'text', autocomplete: 'off', spellcheck: 'false' });
    const check = (id, label) => el('div', { class: 'check' }, el('input', { type: 'checkbox', id, name: id }), el('label', { for: id, text: label }));
    const grantForm = el('form', { id: 'grant' },
      el('div', { class: 'field' }, el('label', { for: 'grant-key', text: 'Access key' }), grantKey),
      el('div', { class: 'field' }, el('label', { for: 'grant-bucket', text: 'Bucket' }), grantBucket),
      el('fieldset', {}, el('legend', { text: 'Permissions' }),
        check('grant-read', 'Read'), check('grant-write', 'Write'), check('grant-owner', 'Owner'),
        check('grant-create-bucket', 'May create buckets')),
      el('div', { class: 'actions' },
        el('button', { id: 'grant-allow', type: 'button', text: 'Allow' }),
        el('button', { id: 'grant-deny', type: 'button', text: 'Deny' })),
      el('p', { class: 'muted', text: 'Deny with a bucket and no permission checked takes every permission on that bucket away.' }));
    SOS.append(view, [el('h1', { text: 'Access keys' }), listing, el('h2', { text: 'Create a key' }), createForm, secretBox,
      el('h2', { text: 'Allow or deny' }), grantForm]);

    const fail = (error) => { if (error.status !== 401) SOS.showError(view, error); };

    async function load() {
      const keys = ((await keysCall('list')) || {}).keys || [];
      keys.sort((a, b) => (a.name + a.accessKeyID).localeCompare(b.name + b.accessKeyID));
      const rows = keys.map((key) => el('tr', { 'data-key': key.accessKeyID },
        el('th', { scope: 'row' }, el('code', { text: key.accessKeyID })),
        el('td', { text: key.name }),
        el('td', { text: SOS.formatDate(key.created) }),
        el('td', { text: key.createBucket ? 'yes' : 'no' }),
        el('td', {}, (key.buckets || []).length
          ? el('ul', { class: 'plain' }, key.buckets.map((grant) => el('li', { text: grant.bucket + ': ' + grant.permissions.join(', ') })))
          : '\u2014'),
        el('td', {}, el('button', { type: 'button', class: 'delete-key', 'data-key': key.accessKeyID,
          'aria-label': 'Delete key ' + key.accessKeyID, text: 'Delete', onclick: () => remove(key) }))));
      SOS.replace(listing, el('table', { id: 'keys' },
        el('caption', { class: 'visually-hidden', text: 'Access keys' }),
        el('thead', {}, el('tr', {}, ['Access key', 'Name', 'Created', 'May create buckets', 'Bucket permissions', 'Actions']
          .map((title) => el('th', { scope: 'col', text: title })))),
        el('tbody', {}, rows)),
        keys.length ? null : el('p', { class: 'muted', text: 'No access keys besides the root key.' }));
      const selected = grantKey.value;
      grantKey.replaceChildren(...keys.map((key) => el('option', { value: key.accessKeyID, text: key.accessKeyID + ' (' + key.name + ')' })));
      if (keys.some((key) => key.accessKeyID === selected)) grantKey.value = selected;
    }

    async function remove(key) {
      if (!window.confirm('Delete the access key ' + key.accessKeyID + ' (' + key.name + ')? Its sessions end at once.')) return;
      SOS.showError(view, null);
      try {
        await keysCall('delete', { accessKeyID: key.accessKeyID });
        SOS.showNotice(view, 'Deleted the key ' + key.accessKeyID + '.');
        await load();
      } catch (error) { fail(error); }
    }

    createForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      SOS.showError(view, null);
      try {
        const created = (await keysCall('create', { name: nameInput.value.trim() })).keys[0];
        nameInput.value = '';
        // Shown this once: the page keeps it nowhere else.
        const dismiss = el('button', { type: 'button', text: 'I have copied it' });
        dismiss.addEventListener('click', () => { secretBox.replaceChildren(); nameInput.focus(); });
        secretBox.replaceChildren(el('div', { id: 'new-key-secret', role: 'alert' },
          el('p', { text: 'Created the key "' + created.name + '". Copy the secret now: it is not shown again.' }),
          el('dl', {}, el('dt', { text: 'Access key' }), el('dd', {}, el('code', { class: 'access-key', text: created.accessKeyID })),
            el('dt', { text: 'Secret key' }), el('dd', {}, el('code', { class: 'secret-key', text: created.secretKey || '' }))),
          dismiss));
        await load();
        grantKey.value = created.accessKeyID;
      } catch (error) { fail(error); }
    });

    async function grant(action) {
      SOS.showError(view, null);
      SOS.showNotice(view, null);
      const accessKeyID = grantKey.value;
      if (!accessKeyID) return SOS.showError(view, new Error('Create a key first.'));
      const fields = {
        accessKeyID, read: SOS.$('grant-read').checked, write: SOS.$('grant-write').checked,
        owner: SOS.$('grant-owner').checked, createBucket: SOS.$('grant-create-bucket').checked,
      };
      const bucket = grantBucket.value.trim();
      if (bucket) fields.bucket = bucket;
      try {
        await keysCall(action, fields);
        SOS.showNotice(view, (action === 'allow' ? 'Allowed' : 'Denied') + ' for ' + accessKeyID + '.');
        await load();
      } catch (error) { fail(error); }
    }
    SOS.$('grant-allow').addEventListener('click', () => grant('allow'));
    SOS.$('grant-deny').addEventListener('click', () => grant('deny'));
    // Enter in the bucket field allows, as the first button.
    grantForm.addEventListener('submit', (event) => { event.preventDefault(); grant('allow'); });

    await load();
  };
})();
"""#
}
