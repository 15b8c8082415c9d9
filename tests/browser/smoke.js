#!/usr/bin/env node
// Headless-browser smoke test of the Pupitre web console.
//
// Logs in, visits every top-level page linked from the navigation in English, switches the
// profile language to French and visits them again, switches back to English and logs out.
// Any browser console error, uncaught page error, failed request or HTTP response >= 400 seen
// anywhere during the run fails it, as does any failed page check.
//
// Usage:
//   BASE_URL=http://127.0.0.1:38080 LOGIN=admin PASSWORD=... node tests/browser/smoke.js
// Optional: CHROMIUM_PATH (default /usr/bin/chromium), SMOKE_TIMEOUT_MS (whole run, default 300000).
// Exit code: 0 on success, 1 on any failure (all failures are printed).
'use strict';

const { chromium } = require('playwright-core');

const MIN_NAV_LINKS = 10;
const LANGUAGES = { en: 'en', fr: 'fr' };
// The server renders a missing translation as `??some.key??`.
const MISSING_KEY_MARKER = '??';
const MISSING_KEY_PATTERN = /\?\?[A-Za-z0-9_.:-]+\?\?/g;
// Before leaving a page, wait until it has had no request in flight for this long, so that a
// late sub-resource (Chromium asks for the favicon after `load`) is not cancelled by our own
// navigation and reported as a failed request.
const QUIET_MS = 150;
const SETTLE_TIMEOUT_MS = 10000;

function env(name, fallback) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    if (fallback !== undefined) return fallback;
    console.error(`smoke: FAIL: environment variable ${name} is required`);
    process.exit(1);
  }
  return value;
}

const BASE_URL = env('BASE_URL').replace(/\/+$/, '');
const LOGIN = env('LOGIN');
const PASSWORD = env('PASSWORD');
const CHROMIUM_PATH = env('CHROMIUM_PATH', '/usr/bin/chromium');
const RUN_TIMEOUT_MS = Number(env('SMOKE_TIMEOUT_MS', '300000'));

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
];

/** A failure that makes the rest of the run meaningless. */
class Abort extends Error {}

const failures = [];
let step = 'start';

function fail(message) {
  failures.push(`[${step}] ${message}`);
}

function url(path) {
  return BASE_URL + path;
}

function pathOf(href) {
  const u = new URL(href);
  return u.pathname + u.search;
}

function snippet(text, index, radius = 40) {
  const start = Math.max(0, index - radius);
  return JSON.stringify(text.slice(start, index + radius).replace(/\s+/g, ' '));
}

/** Records every browser-side problem on the page, whatever the current step. */
function watch(page) {
  page.inflight = new Set();
  page.lastActivity = Date.now();
  page.on('request', (req) => {
    page.inflight.add(req);
    page.lastActivity = Date.now();
  });
  for (const done of ['requestfinished', 'requestfailed']) {
    page.on(done, (req) => {
      page.inflight.delete(req);
      page.lastActivity = Date.now();
    });
  }
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const loc = msg.location();
    const where = loc && loc.url ? ` (at ${loc.url}:${loc.lineNumber})` : '';
    fail(`console error: ${msg.text()}${where}`);
  });
  page.on('pageerror', (err) => {
    fail(`page error: ${err.message}`);
  });
  page.on('requestfailed', (req) => {
    const why = req.failure() ? req.failure().errorText : 'unknown error';
    fail(`request failed: ${req.method()} ${req.url()}: ${why}`);
  });
  page.on('response', (resp) => {
    if (resp.status() >= 400) {
      fail(`HTTP ${resp.status()} for ${resp.request().method()} ${resp.url()}`);
    }
  });
}

/** Waits until the page has had no request in flight for QUIET_MS; reports requests that hang. */
async function settle(page) {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  while (page.inflight.size > 0 || Date.now() - page.lastActivity < QUIET_MS) {
    if (Date.now() > deadline) {
      const pending = [...page.inflight].map((r) => `${r.method()} ${r.url()}`);
      fail(`requests still pending ${SETTLE_TIMEOUT_MS} ms after ${pathOf(page.url())} loaded: ${pending.join(', ')}`);
      page.inflight.clear();
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Leaves the current page once it has settled, and loads `path`. */
async function go(page, path) {
  await settle(page);
  return page.goto(url(path), { waitUntil: 'load' });
}

/**
 * Clicks a submit button and waits for the resulting document to load (a form POST, usually
 * answered by a redirect and a GET). Returns the status of the POST's first response.
 */
async function submit(page, buttonSelector) {
  const button = page.locator(buttonSelector);
  if ((await button.count()) !== 1) {
    throw new Abort(`expected exactly one ${buttonSelector} on ${page.url()}, found ${await button.count()}`);
  }
  await settle(page);
  let request;
  try {
    [request] = await Promise.all([
      page.waitForEvent('request', (r) => r.isNavigationRequest() && r.frame() === page.mainFrame()),
      page.waitForEvent('load'),
      button.click(),
    ]);
  } catch (err) {
    throw new Abort(`clicking ${buttonSelector} on ${pathOf(page.url())} did not load a new page: ${err.message.split('\n')[0]}`);
  }
  let first = request;
  while (first.redirectedFrom()) first = first.redirectedFrom();
  const response = await first.response();
  return { method: first.method(), url: first.url(), status: response ? response.status() : null };
}

/** Goes to a page and checks status, lang, translation markers and h1. Returns the h1 text. */
async function checkPage(page, path, lang) {
  let response;
  try {
    response = await go(page, path);
  } catch (err) {
    fail(`${path}: navigation failed: ${err.message.split('\n')[0]}`);
    return null;
  }
  if (!response) {
    fail(`${path}: no response`);
    return null;
  }
  const redirectedFrom = response.request().redirectedFrom();
  if (redirectedFrom) {
    fail(`${path}: redirected to ${pathOf(response.url())} (expected a 200 page, not a redirect)`);
  }
  if (response.status() !== 200) {
    fail(`${path}: HTTP ${response.status()} (expected 200)`);
  }
  const facts = await page.evaluate(() => ({
    lang: document.documentElement.lang,
    text: document.body ? document.body.innerText : '',
    title: document.title,
    h1: Array.from(document.querySelectorAll('h1')).map((h) => h.textContent.trim()),
  }));
  if (facts.lang !== lang) {
    fail(`${path}: <html lang="${facts.lang}"> (expected "${lang}")`);
  }
  const at = facts.text.indexOf(MISSING_KEY_MARKER);
  if (at !== -1) {
    fail(`${path}: body text contains the untranslated-key marker "??": ${snippet(facts.text, at)}`);
  }
  // The same marker in the title or in attributes (placeholder, aria-label, ...) is invisible
  // in innerText; look for the full ??key?? form in the markup too.
  const html = await page.content();
  const inMarkup = [...new Set(html.match(MISSING_KEY_PATTERN) || [])];
  const notInText = inMarkup.filter((m) => !facts.text.includes(m));
  if (notInText.length > 0) {
    fail(`${path}: markup (title or attributes) contains untranslated keys: ${notInText.join(', ')}`);
  }
  if (facts.h1.length === 0) {
    fail(`${path}: no <h1>`);
    return null;
  }
  return facts.h1[0];
}

async function navLinks(page) {
  const hrefs = await page.$$eval('nav#nav a[href^="/"]', (as) => as.map((a) => a.getAttribute('href')));
  const unique = [];
  for (const href of hrefs) {
    if (href.startsWith('//')) continue; // protocol-relative: another host, not a page of ours
    const clean = href.split('#')[0] || '/';
    if (!unique.includes(clean)) unique.push(clean);
  }
  return unique;
}

async function visitAll(page, links, lang) {
  const h1s = {};
  for (const path of links) {
    h1s[path] = await checkPage(page, path, lang);
  }
  return h1s;
}

async function setLanguage(page, lang) {
  const response = await go(page, '/settings');
  if (!response || response.status() !== 200) {
    throw new Abort(`/settings: HTTP ${response ? response.status() : 'no response'} (expected 200)`);
  }
  if (pathOf(page.url()) !== '/settings') {
    throw new Abort(`/settings: ended on ${pathOf(page.url())}`);
  }
  const select = page.locator('form#settings-profile select[name=language]');
  if ((await select.count()) !== 1) {
    throw new Abort('/settings: no form#settings-profile select[name=language]');
  }
  const options = await select.locator('option').evaluateAll((os) => os.map((o) => o.value));
  if (!options.includes(lang)) {
    throw new Abort(`/settings: language select has no option "${lang}" (options: ${options.join(', ')})`);
  }
  await select.selectOption(lang);
  const posted = await submit(page, 'form#settings-profile button[type=submit]');
  if (posted.status === null || posted.status >= 400) {
    throw new Abort(`saving the profile: ${posted.method} ${pathOf(posted.url)} answered ${posted.status}`);
  }
  const now = await page.evaluate(() => document.documentElement.lang);
  if (now !== lang) {
    fail(`after saving language "${lang}", ${pathOf(page.url())} has <html lang="${now}">`);
  }
}

async function run() {
  const t0 = Date.now();
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
  const pagesVisited = { en: 0, fr: 0 };
  let inFrench = false;
  let page;
  try {
    // A fixed browser locale so that nothing depends on the machine's; English to start.
    const context = await browser.newContext({ locale: 'en-US', timezoneId: 'UTC' });
    context.setDefaultTimeout(15000);
    context.setDefaultNavigationTimeout(30000);
    page = await context.newPage();
    watch(page);

    step = 'login';
    const loginResp = await go(page, '/login');
    if (!loginResp || loginResp.status() !== 200) {
      throw new Abort(`/login: HTTP ${loginResp ? loginResp.status() : 'no response'} (expected 200)`);
    }
    for (const sel of ['form#login', 'form#login input[name=login]', 'form#login input[name=password]']) {
      if ((await page.locator(sel).count()) !== 1) throw new Abort(`/login: expected exactly one ${sel}`);
    }
    await page.fill('form#login input[name=login]', LOGIN);
    await page.fill('form#login input[name=password]', PASSWORD);
    const loginPost = await submit(page, 'form#login button[type=submit]');
    if (page.url() !== url('/')) {
      const said = await page.locator('[role=alert], .error, .flash').allInnerTexts().catch(() => []);
      throw new Abort(
        `after logging in as ${LOGIN}: ${loginPost.method} ${pathOf(loginPost.url)} answered ${loginPost.status}, ` +
          `ended on ${page.url()} (expected ${url('/')})` + (said.length ? `; page says: ${said.join(' | ')}` : ''),
      );
    }

    step = 'nav';
    const links = await navLinks(page);
    if (links.length < MIN_NAV_LINKS) {
      throw new Abort(`nav#nav has ${links.length} distinct page links (expected at least ${MIN_NAV_LINKS}): ${links.join(' ')}`);
    }
    console.log(`smoke: ${links.length} nav links: ${links.join(' ')}`);
    // The dashboard's h1 is compared across languages, so it is always visited.
    const pages = links.includes('/') ? links : ['/', ...links];

    step = 'en';
    const h1en = await visitAll(page, pages, LANGUAGES.en);
    pagesVisited.en = pages.length;

    step = 'switch to fr';
    inFrench = true;
    await setLanguage(page, LANGUAGES.fr);

    step = 'fr';
    const h1fr = await visitAll(page, pages, LANGUAGES.fr);
    pagesVisited.fr = pages.length;
    await go(page, '/');
    const linksFr = await navLinks(page);
    const missing = links.filter((l) => !linksFr.includes(l));
    const extra = linksFr.filter((l) => !links.includes(l));
    if (missing.length || extra.length) {
      fail(`French nav differs from English nav: missing [${missing.join(' ')}], extra [${extra.join(' ')}]`);
    }
    if (h1en['/'] !== null && h1fr['/'] !== null && h1en['/'] === h1fr['/']) {
      fail(`dashboard h1 is the same in English and French ("${h1en['/']}"): the translation did not apply`);
    }

    step = 'switch to en';
    await setLanguage(page, LANGUAGES.en);
    inFrench = false;

    step = 'logout';
    await go(page, '/');
    await submit(page, 'form#logout button[type=submit]');
    if (new URL(page.url()).pathname !== '/login') {
      fail(`after logging out, ended on ${page.url()} (expected ${url('/login')})`);
    }
    await settle(page);
  } catch (err) {
    if (err instanceof Abort) fail(err.message);
    else fail(`unexpected error: ${err.stack || err}`);
    if (inFrench && page) {
      // Best effort: leave the account in English so that the next run starts the same way.
      step = 'restore en';
      await setLanguage(page, LANGUAGES.en).catch((e) => fail(`could not switch back to English: ${e.message}`));
    }
  } finally {
    await browser.close();
  }

  const ms = Date.now() - t0;
  if (failures.length > 0) {
    console.error(`smoke: FAIL: ${failures.length} problem(s):`);
    for (const f of failures) console.error(`  - ${f}`);
    console.error(`smoke: FAIL: pages visited: en=${pagesVisited.en} fr=${pagesVisited.fr}, total ${ms} ms`);
    return 1;
  }
  console.log(`smoke: OK: pages visited: en=${pagesVisited.en} fr=${pagesVisited.fr}, total ${ms} ms`);
  return 0;
}

const watchdog = setTimeout(() => {
  console.error(`smoke: FAIL: run exceeded ${RUN_TIMEOUT_MS} ms (step: ${step})`);
  for (const f of failures) console.error(`  - ${f}`);
  process.exit(1);
}, RUN_TIMEOUT_MS);
watchdog.unref();

run().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`smoke: FAIL: ${err.stack || err}`);
    process.exit(1);
  },
);
