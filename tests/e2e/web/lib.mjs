// What the web client's browser tests share: arguments, Chromium, a signed-up user per
// browser context, numbered screenshots of every page, and waits on the message log.
// Every wait has a deadline: T, stretched by CN_TEST_TIMEOUT_SCALE for sanitizer builds.
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const T = 15000 * Number(process.env.CN_TEST_TIMEOUT_SCALE || '1');
// Makes this run's emails and names unique on a stack that other runs used.
export const run = Date.now().toString(36) + Math.random().toString(36).slice(2, 6);

// The positional arguments, `required` of them at least; exits 2 with `usage` otherwise.
export function args(required, usage) {
  const a = process.argv.slice(2);
  if (a.length < required || a.slice(0, required).some((x) => !x)) {
    console.error(`usage: ${usage}`);
    process.exit(2);
  }
  return a;
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.CN_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

export function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

export const SIZES = [{ width: 1280, height: 800 }, { width: 390, height: 844 }];

// Checks that the composer (#send-form), when shown, is entirely inside the viewport.
export async function composerInView(page, what) {
  const form = page.locator('#send-form');
  if (!(await form.isVisible())) return;
  const b = await form.boundingBox();
  const v = page.viewportSize();
  check(b && b.x >= 0 && b.y >= 0 && b.x + b.width <= v.width + 0.5 && b.y + b.height <= v.height + 0.5,
    `${what}: composer ${JSON.stringify(b)} inside the ${v.width}x${v.height} viewport`);
}

// Users in their own browser contexts, and screenshots of all their pages at once.
export function harness(browser, outdir) {
  mkdirSync(outdir, { recursive: true });
  const pages = {};
  let step = 0;
  return {
    pages,
    async shot(name) {
      step++;
      for (const [who, p] of Object.entries(pages))
        await p.screenshot({ path: join(outdir, `${String(step).padStart(2, '0')}-${name}-${who}.png`), fullPage: true });
    },
    // At each of SIZES: every page's composer inside the viewport, and a screenshot;
    // then back to the page's own size.
    async shotSizes(name) {
      step++;
      for (const [who, p] of Object.entries(pages)) {
        const own = p.viewportSize();
        for (const s of SIZES) {
          await p.setViewportSize(s);
          await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
          await composerInView(p, `${name} (${who} at ${s.width}x${s.height})`);
          await p.screenshot({ path: join(outdir, `${String(step).padStart(2, '0')}-${name}-${who}-${s.width}.png`) });
        }
        await p.setViewportSize(own);
      }
    },
    // Signs `name` up on `url` and waits until the page says Connected.
    async user(name, url, viewport = { width: 1000, height: 700 }) {
      const ctx = await browser.newContext({ viewport });
      const page = await ctx.newPage();
      page.setDefaultTimeout(T);
      page.on('pageerror', (e) => console.log(`[${name} page error] ${e.message}`));
      page.on('console', (m) => { if (m.type() === 'error') console.log(`[${name} console] ${m.text()}`); });
      pages[name] = page;
      await page.goto(url);
      const nickname = `${name}-${run}`.slice(0, 30);
      const email = `${name.toLowerCase()}-${run}@web.test`;
      const form = page.locator('#signup-form');
      await form.getByLabel('Email').fill(email);
      await form.getByLabel('Nickname').fill(nickname);
      await form.getByLabel(/^Password/).fill('correct horse battery');
      await form.getByRole('button', { name: 'Sign up' }).click();
      await page.locator('#conn', { hasText: 'Connected' }).waitFor();
      // The id is for the test's own checks: the page shows nicknames only.
      const id = await page.evaluate(() => JSON.parse(localStorage.getItem('chat-node.session')).user.id);
      check(id > 0, `${name} has a user id`);
      return { page, id, nickname, email, ctx };
    },
  };
}

// The texts of the messages in the log that have a position (delivered, not pending).
export const texts = (page) => page.locator('#messages li[data-position] .text').allTextContents();

export async function waitTexts(page, want, what) {
  try {
    await page.waitForFunction((w) => JSON.stringify([...document.querySelectorAll(
      '#messages li[data-position] .text')].map((e) => e.textContent)) === JSON.stringify(w), want, { timeout: T });
  } catch (e) {
    throw new Error(`${what}: want ${JSON.stringify(want)}, have ${JSON.stringify(await texts(page))}`);
  }
}

export async function send(page, text) {
  await page.locator('#msg').fill(text);
  await page.locator('#msg').press('Enter');
}

// Opens the direct room with `nickname` from the "New chat" search; returns its id.
export async function openDirect(page, nickname) {
  await page.locator('#new-chat').click();
  await page.locator('#people-q').fill(nickname);
  await page.locator('#people-results li', { hasText: nickname }).getByRole('button', { name: 'Message' }).click();
  await page.locator('#room-h', { hasText: nickname }).waitFor();
  const id = Number(await page.locator('#rooms button[aria-current="true"]').getAttribute('data-room-id'));
  check(id > 0, `the direct room with ${nickname} is open and current`);
  return id;
}

// Creates a group named `name` from the "New group" dialog, adding `members` (nicknames).
export async function createGroup(page, name, members = [], visibility = 'private') {
  await page.locator('#new-group').click();
  const form = page.locator('#group-form');
  await form.getByLabel('Name', { exact: true }).fill(name);
  await form.getByLabel('Who can join').selectOption(visibility);
  for (const nick of members) {
    await page.locator('#group-q').fill(nick);
    await page.locator('#group-results li', { hasText: nick }).getByRole('button', { name: 'Add' }).click();
    await page.locator('#group-chosen li', { hasText: nick }).waitFor();
  }
  await form.getByRole('button', { name: 'Create' }).click();
  await page.locator('#room-h', { hasText: name }).waitFor();
  return Number(await page.locator('#rooms button[aria-current="true"]').getAttribute('data-room-id'));
}

// The network control of states.mjs and journey.mjs: the script prints `CTL <what>` and
// web_client.py answers `ok` on stdin once its proxy (or node) did it.
export function networkControl() {
  const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  return async function ctl(what) {
    console.log(`CTL ${what}`);
    const { value, done } = await stdin.next();
    if (done || value.trim() !== 'ok') throw new Error(`CTL ${what}: got ${done ? 'EOF' : value}`);
  };
}
