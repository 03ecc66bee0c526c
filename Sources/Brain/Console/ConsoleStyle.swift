/// The console's `console.css`: a light, plain layout with visible focus and a colour per agent state.
enum ConsoleStyle {
    static let css = #"""
:root {
  --text: #1f2328;
  --muted: #59636e;
  --border: #d0d7de;
  --surface: #f6f8fa;
  --accent: #0b57d0;
  --accent-dark: #0842a0;
  --danger: #b42318;
  --ok: #1a7f37;
  --warn: #9a6700;
  --focus: #0b57d0;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html { font-size: 100%; }
body {
  margin: 0;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 1rem;
  line-height: 1.5;
  color: var(--text);
  background: #fff;
}
header.top { background: var(--surface); border-bottom: 1px solid var(--border); }
.bar, main, #signin-section, #loading {
  max-width: 72rem;
  margin: 0 auto;
  padding: 0 1rem;
}
.bar { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1.5rem; min-height: 3.25rem; }
.brand { font-weight: 700; font-size: 1.1rem; }
#nav { display: flex; gap: 0.25rem; flex: 1; }
#nav a { padding: 0.35rem 0.7rem; border-radius: 0.375rem; color: var(--text); text-decoration: none; }
#nav a:hover { background: #eaeef2; }
#nav a[aria-current="page"] { background: #dde8fb; color: var(--accent-dark); font-weight: 600; }
#account { display: flex; align-items: center; gap: 0.75rem; margin-left: auto; }
#whoami { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9rem; }
main { padding-top: 0.5rem; padding-bottom: 3rem; }
h1 { font-size: 1.6rem; margin: 1rem 0 0.5rem; word-break: break-word; }
h2 { font-size: 1.2rem; margin: 1.75rem 0 0.5rem; }
a { color: var(--accent); }
a:hover { color: var(--accent-dark); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; word-break: break-all; }
.muted { color: var(--muted); }
.error { color: var(--danger); background: #fef3f2; border: 1px solid #fecdca; border-radius: 0.375rem; padding: 0.5rem 0.75rem; }
.notice { background: #eef6ee; border: 1px solid #b7dfbe; border-radius: 0.375rem; padding: 0.5rem 0.75rem; }
#loading { margin-top: 2rem; border: none; background: none; }
#signin-error:empty { display: none; }
#signin-error { color: var(--danger); margin: 0.75rem 0 0; }
.visually-hidden {
  position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}

/* Forms */
#signin { max-width: 24rem; padding: 1.25rem; border: 1px solid var(--border); border-radius: 0.5rem; background: var(--surface); }
.field { display: flex; flex-direction: column; gap: 0.25rem; margin: 0 0 0.75rem; }
.inline-form { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem; margin: 0.5rem 0; }
label { font-weight: 600; }
input[type="text"], input[type="password"], input[type="search"], select {
  font: inherit;
  padding: 0.4rem 0.55rem;
  border: 1px solid #8c959f;
  border-radius: 0.375rem;
  background: #fff;
  color: inherit;
  min-width: 12rem;
}
#share-url { width: 100%; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.85rem; }
button, a.button {
  font: inherit;
  display: inline-block;
  padding: 0.4rem 0.9rem;
  border: 1px solid var(--accent);
  border-radius: 0.375rem;
  background: var(--accent);
  color: #fff;
  cursor: pointer;
  text-decoration: none;
  line-height: 1.4;
}
button:hover, a.button:hover { background: var(--accent-dark); color: #fff; }
button:disabled { opacity: 0.55; cursor: not-allowed; }
#signout, .paging button, button.copy, #grant-deny, .secret-box button { background: #fff; color: var(--accent); }
#signout:hover, .paging button:hover, button.copy:hover, #grant-deny:hover, .secret-box button:hover { background: #eef3fc; color: var(--accent-dark); }
button.danger, button.delete-bucket, button.delete-key, button.drain {
  background: #fff; color: var(--danger); border-color: var(--danger); padding: 0.2rem 0.7rem;
}
button.danger:hover, button.delete-bucket:hover, button.delete-key:hover, button.drain:hover { background: #fef3f2; color: var(--danger); }
fieldset { border: 1px solid var(--border); border-radius: 0.375rem; margin: 0 0 0.75rem; padding: 0.5rem 0.9rem; }
legend { font-weight: 600; padding: 0 0.3rem; }
.check { display: inline-flex; align-items: center; gap: 0.35rem; margin-right: 1.25rem; }
.check label { font-weight: normal; }
#grant { max-width: 40rem; }
.actions { display: flex; flex-wrap: wrap; gap: 0.5rem; margin: 0.75rem 0; }

/* Visible focus for keyboard users */
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
input:focus-visible, select:focus-visible { outline-offset: 0; }

/* Tables */
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0; font-size: 0.95rem; }
th, td { border: 1px solid var(--border); padding: 0.4rem 0.6rem; text-align: left; vertical-align: middle; }
thead th { background: var(--surface); font-weight: 600; white-space: nowrap; }
tbody th { font-weight: normal; word-break: break-word; }
tbody tr:hover { background: #fafbfc; }
td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
ul.plain { list-style: none; margin: 0; padding: 0; }
.paging { display: flex; align-items: center; gap: 0.5rem; }

/* Breadcrumb */
.breadcrumb ol { list-style: none; display: flex; flex-wrap: wrap; margin: 0 0 0.75rem; padding: 0; }
.breadcrumb li + li::before { content: "/"; color: var(--muted); padding: 0 0.4rem; }
.breadcrumb [aria-current="page"] { font-weight: 600; color: var(--text); text-decoration: none; }
.prefix { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: var(--muted); }

/* Uploads */
#dropzone { border: 2px dashed #8c959f; border-radius: 0.5rem; padding: 0.75rem 1rem; background: var(--surface); }
#dropzone.dragover { border-color: var(--accent); background: #eef3fc; }
#dropzone p { margin: 0 0 0.5rem; }
#dropzone .field { display: inline-flex; margin-right: 2rem; }
#uploads { list-style: none; padding: 0; margin: 0.75rem 0; }
#uploads li { display: flex; flex-wrap: wrap; align-items: center; gap: 0.75rem; padding: 0.35rem 0; border-bottom: 1px solid var(--border); }
#uploads .key { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; flex: 1 1 16rem; word-break: break-all; }
#uploads .size { color: var(--muted); white-space: nowrap; }
#uploads progress { width: 10rem; }
#uploads .status { min-width: 6rem; }
#uploads button.resume { padding: 0.15rem 0.6rem; }

/* Object page */
#object-details { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1.25rem; margin: 0.5rem 0; }
#object-details dt { font-weight: 600; }
#object-details dd { margin: 0; word-break: break-all; }
#share { margin-top: 1rem; }
.share-result { max-width: 48rem; margin-top: 0.75rem; }
.share-result .field { flex-direction: row; flex-wrap: wrap; align-items: center; }
.share-result .field label { flex-basis: 100%; }
.share-result input { flex: 1; }

/* Cluster */
dl.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: 0.75rem; margin: 0.5rem 0; }
dl.summary > div.wide { grid-column: span 2; }
dl.summary > div.wide dd { font-size: 1rem; font-weight: normal; }
dl.summary > div { border: 1px solid var(--border); border-radius: 0.5rem; padding: 0.5rem 0.75rem; background: var(--surface); }
dl.summary dt { color: var(--muted); font-size: 0.9rem; }
dl.summary dd { margin: 0; font-size: 1.15rem; font-weight: 600; }
td.state { font-weight: 600; }
td.state::before { content: ""; display: inline-block; width: 0.6rem; height: 0.6rem; border-radius: 50%; margin-right: 0.4rem; background: var(--muted); }
.state-up { color: var(--ok); }
td.state-up::before { background: var(--ok); }
.state-suspect { color: var(--warn); }
td.state-suspect::before { background: #d4a72c; }
.state-down { color: var(--danger); }
td.state-down::before { background: var(--danger); }
td.capacity meter { width: 8rem; display: block; }
td.capacity .capacity-text { font-size: 0.85rem; color: var(--muted); white-space: nowrap; }

/* Keys */
#new-key-secret { border: 2px solid var(--warn); background: #fff8e5; border-radius: 0.5rem; padding: 0.75rem 1rem; margin: 0.75rem 0; }
#new-key-secret dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1rem; }
#new-key-secret dd { margin: 0; }
#new-key-secret code { font-size: 1rem; user-select: all; }

@media (max-width: 40rem) {
  table { font-size: 0.85rem; }
  th, td { padding: 0.3rem 0.4rem; }
}
"""#
}
