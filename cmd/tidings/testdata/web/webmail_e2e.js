#!/usr/bin/env node
// The browser half of cmd/tidings/interop_web_test.go: drives the webmail of
// a running `tidings serve` in headless Debian Chromium through
// playwright-core, which never downloads a browser of its own.
//
//   node webmail_e2e.js CONFIG_JSON
//
// CONFIG_JSON (written by the Go test): base (https://host:port), artifacts
// (folder for screenshots), chromium (the executable), domain, juliet and
// admin ({address, password}), inbox ({subject, body, fromName}: a mail the
// test delivered over SMTP), compose ({to, subject, body}), contact ({name,
// email}), rule (the filter rule's name), newUser ({address, password,
// name}), live ({subject, body}: juliet's mail to the new user).
//
// Prints one JSON line per step: {"step", "ok", "ms", "error"?,
// "screenshots": [file names], "notes": [...]} and finally
// {"step": "done", ...}. A step fails on a missing element, on an
// unexpected page, and on any console error or uncaught exception in the
// page (CSP violations are console errors); steps that need a failed one
// are reported as skipped. The Go test checks the aftermath over IMAP and
// XMPP. Waits are on elements and navigations, never on time.
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const cfg = JSON.parse(process.argv[2] || '{}');
const TIMEOUT = 10000; // one element or navigation

// Chromium as root (CI) needs --no-sandbox; the rest keeps it from calling
// home on a machine without a network.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage'];

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

let shotCount = 0;

// Session is one signed-in browser context with its own page, watching for
// console errors and page exceptions.
class Session {
  constructor(browser, who) {
    this.browser = browser;
    this.who = who;
    this.problems = []; // console errors and exceptions since the last take()
    this.remarks = []; // the browser's own favicon request failing: noted, not failed
  }

  async open(viewport) {
    this.context = await this.browser.newContext({
      ignoreHTTPSErrors: true, // the server's certificate is self-signed
      viewport: viewport || { width: 1280, height: 800 },
      locale: 'en-GB',
      timezoneId: 'UTC',
    });
    this.context.setDefaultTimeout(TIMEOUT);
    this.context.setDefaultNavigationTimeout(TIMEOUT);
    this.page = await this.context.newPage();
    this.watch(this.page);
    return this;
  }

  watch(page) {
    page.on('console', (m) => {
      if (m.type() === 'error') {
        const loc = m.location();
        if (loc && /\/favicon\.ico$/.test(loc.url)) {
          this.remarks.push(`no favicon: ${m.text()} (${loc.url})`);
          return;
        }
        this.problems.push(`console error on ${page.url()}: ${m.text()}` + (loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : ''));
      }
    });
    page.on('pageerror', (e) => this.problems.push(`uncaught exception on ${page.url()}: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 500) {
        this.problems.push(`${r.status()} for ${r.request().method()} ${r.url()}`);
      }
    });
    // data-confirm buttons (app.js) ask with window.confirm: say yes.
    page.on('dialog', (d) => d.accept().catch(() => {}));
  }

  take() {
    const p = this.problems;
    this.problems = [];
    return p;
  }

  // forgive drops the problems so far that match re (an error status the
  // step asked for is logged as a console error).
  forgive(re) {
    this.problems = this.problems.filter((m) => !re.test(m));
  }

  // goto loads path and checks the status.
  async goto(p, wantStatus) {
    const res = await this.page.goto(cfg.base + p, { waitUntil: 'load' });
    const got = res ? res.status() : 0;
    if (got !== (wantStatus || 200)) {
      throw new Error(`GET ${p}: status ${got}, want ${wantStatus || 200}; page: ${await this.text()}`);
    }
    return res;
  }

  // text is the start of the page's main text, for error messages.
  async text() {
    try {
      const t = await this.page.locator('body').innerText({ timeout: 1000 });
      return JSON.stringify(t.replace(/\s+/g, ' ').slice(0, 600));
    } catch (e) {
      return '(no text)';
    }
  }

  // shot checks the page (unless check is false) and saves a full-page
  // screenshot; it returns the file's name.
  async shot(name, check = true) {
    if (check) await this.pageChecks();
    shotCount++;
    const file = `${String(shotCount).padStart(2, '0')}-${name}.png`;
    await this.page.screenshot({ path: path.join(cfg.artifacts, file), fullPage: true });
    return file;
  }

  // signIn fills the login form; the page must be the login page.
  async signIn(address, password) {
    const p = this.page;
    await p.getByRole('heading', { level: 1, name: /sign in/i }).waitFor();
    await p.getByLabel('Address').fill(address);
    await p.getByLabel('Password').fill(password);
    await Promise.all([
      p.waitForURL((u) => !u.pathname.startsWith('/login')),
      p.getByRole('button', { name: 'Sign in' }).click(),
    ]);
  }

  async signOut() {
    await Promise.all([
      this.page.waitForURL(/\/login/),
      this.page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
  }

  // flash returns the text of the status message after a form post.
  async flash() {
    const f = this.page.locator('.flash[role="status"]');
    await f.first().waitFor();
    return (await f.first().innerText()).trim();
  }

  // pageChecks adds to the step's problems what is wrong with the page as
  // a whole: not one h1, a form control without a label, a button or link
  // without a name, content wider than the window (horizontal scrolling).
  async pageChecks() {
    this.problems.push(...await this.page.evaluate(() => {
      const out = [];
      const where = location.pathname;
      if (document.querySelectorAll('h1').length !== 1) {
        out.push(`${where}: ${document.querySelectorAll('h1').length} h1 headings, want 1`);
      }
      for (const el of document.querySelectorAll('input, select, textarea')) {
        if (el.type === 'hidden' || el.type === 'submit' || el.type === 'button') continue;
        if (el.getClientRects().length === 0) continue; // not rendered (hidden, display: none)
        const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.getAttribute('title');
        if (!named) out.push(`${where}: ${el.tagName.toLowerCase()} name=${el.name || '?'} has no label`);
      }
      for (const b of document.querySelectorAll('button, a[href]')) {
        const name = (b.innerText || '').trim() || b.getAttribute('aria-label') || b.getAttribute('title');
        if (!name && !b.querySelector('img[alt]:not([alt=""])')) out.push(`${where}: ${b.tagName.toLowerCase()} without an accessible name`);
      }
      const over = document.documentElement.scrollWidth - document.documentElement.clientWidth;
      if (over > 1) out.push(`${where}: content ${over}px wider than the ${document.documentElement.clientWidth}px window (horizontal scrolling)`);
      return out;
    }));
  }
}

// Steps, in order; each may need earlier ones. A step's function gets a
// record to which it adds screenshots and notes.
const steps = [];
function step(name, needs, fn) {
  steps.push({ name, needs, fn });
}

const sessions = {};

// visit loads path, checks the page and saves a screenshot.
async function visit(s, rec, p, name, wantStatus) {
  await s.goto(p, wantStatus);
  rec.screenshots.push(await s.shot(name));
}

// link finds the link named name in the page's main part.
function link(page, name) {
  return page.locator('main').getByRole('link', { name, exact: true });
}

step('login', [], async (rec, browser) => {
  const s = await new Session(browser, 'juliet').open();
  sessions.juliet = s;
  await s.goto('/mail/', 200); // not signed in: the login page, via redirect
  if (!new URL(s.page.url()).pathname.startsWith('/login')) {
    throw new Error(`/mail/ without a session went to ${s.page.url()}, want /login`);
  }
  rec.screenshots.push(await s.shot('login'));
  // A wrong password first: the form says so and stays.
  await s.page.getByLabel('Address', { exact: true }).fill(cfg.juliet.address);
  await s.page.getByLabel('Password', { exact: true }).fill('not-' + cfg.juliet.password);
  await s.page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await s.page.getByRole('alert').filter({ hasText: 'Wrong address or password.' }).waitFor();
  rec.screenshots.push(await s.shot('login-failed'));
  s.forgive(/status of 401\b/); // the failed sign-in's answer, wanted
  await s.signIn(cfg.juliet.address, cfg.juliet.password);
  await s.page.locator('header.top').getByText(cfg.juliet.address).waitFor();
  if (!new URL(s.page.url()).pathname.startsWith('/mail/')) {
    throw new Error(`after signing in: ${s.page.url()}, want /mail/`);
  }
});

step('mail list', ['login'], async (rec) => {
  const s = sessions.juliet;
  await s.goto('/mail/');
  await link(s.page, cfg.inbox.subject).waitFor();
  const folders = s.page.getByRole('navigation', { name: 'Folders' });
  const inbox = (await folders.getByRole('link', { name: /^Inbox/ }).first().innerText()).replace(/\s+/g, ' ');
  if (!/\b1 unread\b|\b1$/.test(inbox)) rec.notes.push(`the Inbox entry reads ${JSON.stringify(inbox)}, want its unread count 1`);
  rec.screenshots.push(await s.shot('mail-list'));
});

step('read', ['mail list'], async (rec) => {
  const s = sessions.juliet;
  const p = s.page;
  await Promise.all([
    p.waitForURL(/\/mail\/INBOX\/\d+$/),
    link(p, cfg.inbox.subject).click(),
  ]);
  await p.getByRole('heading', { level: 1, name: cfg.inbox.subject }).waitFor();
  // The body is in the page, or in a frame of the page (sanitised HTML).
  for (const line of cfg.inbox.body.split('\n')) {
    let found = await p.locator('main').getByText(line.trim()).count();
    for (const f of p.frames()) {
      if (!found && f !== p.mainFrame()) found = await f.getByText(line.trim()).count();
    }
    if (!found) throw new Error(`the message view lacks the body line ${JSON.stringify(line)}; page: ${await s.text()}`);
  }
  if (!(await p.locator('main').getByText(cfg.inbox.fromName).count())) {
    throw new Error(`the message view does not name the sender ${JSON.stringify(cfg.inbox.fromName)}; page: ${await s.text()}`);
  }
  rec.screenshots.push(await s.shot('message-view'));
});

step('compose', ['login'], async (rec) => {
  const s = sessions.juliet;
  const p = s.page;
  await s.goto('/mail/');
  await Promise.all([
    p.waitForURL(/\/mail\/compose$/),
    p.getByRole('link', { name: 'Compose', exact: true }).click(),
  ]);
  await p.getByLabel('To', { exact: true }).fill(cfg.compose.to);
  await p.getByLabel('Subject', { exact: true }).fill(cfg.compose.subject);
  await p.getByLabel('Message', { exact: true }).fill(cfg.compose.body);
  rec.screenshots.push(await s.shot('compose'));
  await Promise.all([
    p.waitForURL((u) => !u.pathname.startsWith('/mail/compose')),
    p.getByRole('button', { name: 'Send', exact: true }).click(),
  ]);
  const flash = await s.flash();
  if (flash !== 'Message sent.') throw new Error(`after Send the page says ${JSON.stringify(flash)}, want "Message sent."`);
  rec.screenshots.push(await s.shot('compose-sent'));
});

step('sent folder', ['compose'], async (rec) => {
  const s = sessions.juliet;
  await visit(s, rec, '/mail/Sent/', 'sent-folder');
  await link(s.page, cfg.compose.subject).waitFor();
});

step('contact', ['login'], async (rec) => {
  const s = sessions.juliet;
  const p = s.page;
  await visit(s, rec, '/contacts/', 'contacts');
  await Promise.all([
    p.waitForURL(/\/contacts\/new$/),
    p.getByRole('link', { name: 'New contact', exact: true }).click(),
  ]);
  await p.getByLabel('Name', { exact: true }).fill(cfg.contact.name);
  await p.getByLabel('Email', { exact: true }).fill(cfg.contact.email);
  rec.screenshots.push(await s.shot('contact-new'));
  await Promise.all([
    p.waitForURL(/\/contacts\/$/),
    p.getByRole('button', { name: 'Add contact', exact: true }).click(),
  ]);
  const flash = await s.flash();
  if (!flash.includes(cfg.contact.name)) throw new Error(`after Add contact the page says ${JSON.stringify(flash)}`);
  const row = p.locator('main tr').filter({ hasText: cfg.contact.email });
  await row.getByRole('link', { name: cfg.contact.name, exact: true }).waitFor();
  rec.screenshots.push(await s.shot('contacts-after'));
});

step('filter', ['contact'], async (rec) => {
  const s = sessions.juliet;
  const p = s.page;
  await visit(s, rec, '/filters/', 'filters');
  await Promise.all([
    p.waitForURL(/\/filters\/rules\/new$/),
    p.getByRole('link', { name: 'New rule', exact: true }).first().click(),
  ]);
  await p.getByLabel('Rule name', { exact: true }).fill(cfg.rule);
  await p.getByLabel('Condition 1 Field', { exact: true }).selectOption({ label: 'Sender is in my contacts' });
  await p.getByLabel('Action 1', { exact: true }).selectOption({ label: 'Notify me over XMPP' });
  rec.screenshots.push(await s.shot('filter-editor'));
  await Promise.all([
    p.waitForURL(/\/filters\/$/),
    p.getByRole('button', { name: 'Save rule', exact: true }).click(),
  ]);
  await s.flash();
  // The editor reads back what it wrote: the rule in the table, and the
  // generated Sieve script.
  const row = p.locator('main tr').filter({ has: p.getByRole('link', { name: cfg.rule, exact: true }) });
  const text = (await row.innerText()).replace(/\s+/g, ' ');
  if (!/sender is in my contacts/i.test(text) || !/notify me over XMPP/i.test(text)) {
    throw new Error(`the rule's row reads ${JSON.stringify(text)}, want the contacts condition and the XMPP notification`);
  }
  await p.getByText('Show the generated Sieve script', { exact: true }).click();
  const src = await p.locator('main details pre').first().innerText();
  if (!src.includes(':addrbook:default') || !/notify\b[^;]*"xmpp:/.test(src)) {
    throw new Error(`the generated script lacks the address-book test or the XMPP notify: ${JSON.stringify(src)}`);
  }
  rec.screenshots.push(await s.shot('filters-after'));
});

step('settings', ['login'], async (rec) => {
  const s = sessions.juliet;
  await visit(s, rec, '/settings/', 'settings');
  await s.page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
  await s.page.getByLabel('Send new-mail notifications to (Jabber ID)', { exact: true }).waitFor();
});

step('admin forbidden', ['login'], async (rec) => {
  const s = sessions.juliet;
  for (const p of ['/admin/', '/admin/users', '/admin/users/new']) {
    await s.goto(p, 403);
    await s.page.getByRole('heading', { level: 1, name: '403' }).waitFor();
    if (p === '/admin/') rec.screenshots.push(await s.shot('admin-403'));
  }
  s.forgive(/status of 403\b/); // the answers asked for
  if (await s.page.locator('header.top').getByRole('link', { name: 'Admin' }).count()) {
    throw new Error('the menu of a non-admin shows an Admin link');
  }
});

step('admin login', [], async (rec, browser) => {
  const s = await new Session(browser, 'admin').open();
  sessions.admin = s;
  await s.goto('/admin/', 200); // via the login page, back to /admin/
  await s.signIn(cfg.admin.address, cfg.admin.password);
  if (new URL(s.page.url()).pathname !== '/admin/') {
    throw new Error(`after signing in from /admin/: ${s.page.url()}, want /admin/`);
  }
  await s.page.locator('header.top').getByRole('link', { name: 'Admin', exact: true }).waitFor();
  rec.screenshots.push(await s.shot('admin-overview'));
});

step('admin pages', ['admin login'], async (rec) => {
  const s = sessions.admin;
  const nav = s.page.getByRole('navigation', { name: 'Administration' });
  for (const name of ['Domains', 'Users', 'Aliases', 'Servers', 'Queue']) {
    const res = s.page.waitForResponse((r) => r.request().isNavigationRequest());
    await nav.getByRole('link', { name, exact: true }).click();
    if ((await res).status() !== 200) throw new Error(`${name}: status ${(await res).status()}`);
    await s.page.getByRole('heading', { level: 1 }).waitFor();
    rec.screenshots.push(await s.shot('admin-' + name.toLowerCase()));
  }
  // One domain, its DNS records, one user.
  await visit(s, rec, '/admin/domains/' + cfg.domain, 'admin-domain');
  await visit(s, rec, '/admin/domains/' + cfg.domain + '/dns', 'admin-domain-dns');
  await visit(s, rec, '/admin/users/' + encodeURIComponent(cfg.juliet.address), 'admin-user');
});

step('admin creates user', ['admin login'], async (rec) => {
  const s = sessions.admin;
  const p = s.page;
  await s.goto('/admin/users');
  await Promise.all([
    p.waitForURL(/\/admin\/users\/new$/),
    p.getByRole('link', { name: 'New user', exact: true }).click(),
  ]);
  await p.getByLabel('Address', { exact: true }).fill(cfg.newUser.address);
  await p.getByLabel('Display name', { exact: true }).fill(cfg.newUser.name);
  await p.getByLabel('Password', { exact: true }).fill(cfg.newUser.password);
  rec.screenshots.push(await s.shot('admin-user-new'));
  await Promise.all([
    p.waitForURL((u) => u.pathname !== '/admin/users/new' && u.pathname !== '/admin/users'),
    p.getByRole('button', { name: 'Create user', exact: true }).click(),
  ]);
  const flash = await s.flash();
  if (!flash.includes(cfg.newUser.address)) throw new Error(`after Create user the page says ${JSON.stringify(flash)}`);
  rec.screenshots.push(await s.shot('admin-user-created'));
  await s.goto('/admin/users');
  await p.locator('main').getByRole('link', { name: cfg.newUser.address, exact: true }).waitFor();
});

step('new user login', ['admin creates user'], async (rec, browser) => {
  const s = await new Session(browser, 'new user').open({ width: 390, height: 844 }); // a phone
  sessions.newUser = s;
  await s.goto('/login');
  await s.signIn(cfg.newUser.address, cfg.newUser.password);
  await s.page.locator('header.top').getByText(cfg.newUser.address).waitFor();
  rec.screenshots.push(await s.shot('phone-mail-list'));
  await visit(s, rec, '/mail/compose', 'phone-compose');
});

// Live update: the new user's Inbox is open (its event stream connected)
// when juliet sends them a mail; it shows up without a reload.
step('live update', ['new user login', 'compose'], async (rec) => {
  const b = sessions.newUser;
  const j = sessions.juliet;
  const stream = b.page.waitForResponse((r) => new URL(r.url()).pathname === '/mail/events');
  await b.goto('/mail/INBOX/');
  const res = await stream;
  if (res.status() !== 200) throw new Error(`/mail/events: status ${res.status()}`);
  await b.page.evaluate(() => { window.tidingsTestMark = 'not reloaded'; });
  await j.goto('/mail/compose');
  await j.page.getByLabel('To', { exact: true }).fill(cfg.newUser.address);
  await j.page.getByLabel('Subject', { exact: true }).fill(cfg.live.subject);
  await j.page.getByLabel('Message', { exact: true }).fill(cfg.live.body);
  await Promise.all([
    j.page.waitForURL((u) => !u.pathname.startsWith('/mail/compose')),
    j.page.getByRole('button', { name: 'Send', exact: true }).click(),
  ]);
  const flash = await j.flash();
  if (flash !== 'Message sent.') throw new Error(`after Send the page says ${JSON.stringify(flash)}, want "Message sent."`);
  await link(b.page, cfg.live.subject).waitFor();
  if ((await b.page.evaluate(() => window.tidingsTestMark)) !== 'not reloaded') {
    throw new Error('the Inbox was reloaded: the new mail did not come live');
  }
  rec.screenshots.push(await b.shot('phone-live-update'));
});

step('logout', ['login'], async () => {
  await sessions.juliet.signOut();
  await sessions.juliet.goto('/mail/'); // back to the login page
  if (!new URL(sessions.juliet.page.url()).pathname.startsWith('/login')) {
    throw new Error(`/mail/ after signing out went to ${sessions.juliet.page.url()}, want /login`);
  }
});

async function main() {
  fs.mkdirSync(cfg.artifacts, { recursive: true });
  const began = Date.now();
  const browser = await chromium.launch({ executablePath: cfg.chromium || '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
  emit({ step: 'browser', ok: true, ms: Date.now() - began, version: browser.version() });
  const failed = new Set();
  let failures = 0;
  for (const st of steps) {
    const rec = { step: st.name, ok: false, ms: 0, screenshots: [], notes: [] };
    const missing = st.needs.filter((n) => failed.has(n));
    if (missing.length) {
      failed.add(st.name);
      emit({ ...rec, skipped: true, error: `needs ${missing.join(', ')}` });
      continue;
    }
    const t0 = Date.now();
    try {
      await st.fn(rec, browser);
      rec.ok = true;
    } catch (e) {
      rec.error = String((e && e.message) || e).split('\n').slice(0, 8).join('\n');
    }
    const problems = [];
    for (const s of Object.values(sessions)) {
      problems.push(...s.take());
      rec.notes.push(...s.remarks.splice(0));
    }
    if (problems.length) {
      rec.ok = false;
      rec.problems = problems;
    }
    if (!rec.ok) {
      failed.add(st.name);
      failures++;
      for (const s of Object.values(sessions)) {
        try {
          rec.screenshots.push(await s.shot(`FAILED-${st.name.replace(/\W+/g, '-')}-${s.who.replace(/\W+/g, '-')}`, false));
          rec.url = (rec.url ? rec.url + ' ' : '') + s.page.url();
        } catch (e) { /* the page may be gone */ }
      }
    }
    rec.ms = Date.now() - t0;
    emit(rec);
  }
  await browser.close();
  emit({ step: 'done', ok: failures === 0, ms: Date.now() - began, notes: [`${failures} failed steps, ${shotCount} screenshots`] });
}

main().catch((e) => {
  emit({ step: 'crash', ok: false, error: String((e && e.stack) || e) });
  process.exit(2);
});
