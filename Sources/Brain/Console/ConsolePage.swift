/// The web console's `index.html`: the page shell that the scripts under `/assets/` fill in.
enum ConsolePage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>SOS console</title>
<link rel="stylesheet" href="/assets/console.css">
<script src="/assets/core.js" defer></script>
<script src="/assets/objects.js" defer></script>
<script src="/assets/admin.js" defer></script>
</head>
<body>
<header class="top">
<div class="bar">
<span class="brand">SOS console</span>
<nav id="nav" aria-label="Main" hidden></nav>
<div id="account" hidden>
<span id="whoami"></span>
<button id="signout" type="button">Sign out</button>
</div>
</div>
</header>
<p id="loading" class="notice">Loading&hellip;</p>
<section id="signin-section" aria-labelledby="signin-title" hidden>
<h1 id="signin-title">Sign in</h1>
<form id="signin">
<div class="field">
<label for="access-key">Access key</label>
<input id="access-key" name="accessKey" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required>
</div>
<div class="field">
<label for="secret-key">Secret key</label>
<input id="secret-key" name="secretKey" type="password" autocomplete="current-password" required>
</div>
<button type="submit">Sign in</button>
<p id="signin-error" role="alert"></p>
</form>
</section>
<main id="view" aria-live="polite" hidden></main>
<noscript><p class="error">The SOS console needs JavaScript.</p></noscript>
</body>
</html>
"""#
}
