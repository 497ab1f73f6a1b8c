// What the web client's browser tests share: arguments, Chromium, a signed-up user per
// browser context, numbered screenshots of every page, and waits on the message log.
// Every wait has a deadline: T, stretched by CN_TEST_TIMEOUT_SCALE for sanitizer builds.
import { chromium } from 'playwright-core';
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
    // Signs `name` up on `url` and waits until the page says Connected.
    async user(name, url) {
      const ctx = await browser.newContext({ viewport: { width: 1000, height: 700 } });
      const page = await ctx.newPage();
      page.setDefaultTimeout(T);
      page.on('pageerror', (e) => console.log(`[${name} page error] ${e.message}`));
      page.on('console', (m) => { if (m.type() === 'error') console.log(`[${name} console] ${m.text()}`); });
      pages[name] = page;
      await page.goto(url);
      const nickname = `${name}-${run}`.slice(0, 30);
      const form = page.locator('#signup-form');
      await form.getByLabel('Email').fill(`${name.toLowerCase()}-${run}@web.test`);
      await form.getByLabel('Nickname').fill(nickname);
      await form.getByLabel(/^Password/).fill('correct horse battery');
      await form.getByRole('button', { name: 'Sign up' }).click();
      await page.locator('#conn', { hasText: 'Connected' }).waitFor();
      const id = Number(await page.locator('#me-id').textContent());
      check(id > 0, `${name} has a user id`);
      return { page, id, nickname };
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
