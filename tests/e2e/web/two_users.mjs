// Browser test of the web client (run by tests/integration/web_client.py):
// two users in two browser contexts, A on node 1 and B on node 2, sign up, open a
// direct room, exchange messages live and in order, see the unread badge appear
// and reset, see "Seen", reload and see the history. Every wait is on a condition
// with a deadline. Screenshots go to OUTDIR.
//   node two_users.mjs NODE1_URL NODE2_URL OUTDIR
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [url1, url2, outdir] = process.argv.slice(2);
if (!url1 || !url2 || !outdir) {
  console.error('usage: node two_users.mjs NODE1_URL NODE2_URL OUTDIR');
  process.exit(2);
}
mkdirSync(outdir, { recursive: true });
const scale = Number(process.env.CN_TEST_TIMEOUT_SCALE || '1');
const T = 15000 * scale;
const run = Date.now().toString(36) + Math.random().toString(36).slice(2, 6);

const browser = await chromium.launch({
  executablePath: process.env.CN_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
const pages = {};
let step = 0;
async function shot(name) {
  step++;
  for (const [who, p] of Object.entries(pages))
    await p.screenshot({ path: join(outdir, `${String(step).padStart(2, '0')}-${name}-${who}.png`), fullPage: true });
}
function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}
const log = (s) => console.log(`[web e2e] ${s}`);

async function user(name, url) {
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(T);
  page.on('pageerror', (e) => console.log(`[${name} page error] ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') console.log(`[${name} console] ${m.text()}`); });
  pages[name] = page;
  await page.goto(url);
  const form = page.locator('#signup-form');
  await form.getByLabel('Email').fill(`${name.toLowerCase()}-${run}@web.test`);
  await form.getByLabel('Nickname').fill(`${name}-${run}`.slice(0, 30));
  await form.getByLabel(/^Password/).fill('correct horse battery');
  await form.getByRole('button', { name: 'Sign up' }).click();
  await page.locator('#conn', { hasText: 'Connected' }).waitFor();
  const id = Number(await page.locator('#me-id').textContent());
  check(id > 0, `${name} has a user id`);
  return { page, id, nickname: `${name}-${run}`.slice(0, 30) };
}

const texts = (page) => page.locator('#messages li[data-position] .text').allTextContents();
async function waitTexts(page, want, what) {
  try {
    await page.waitForFunction((w) => JSON.stringify([...document.querySelectorAll(
      '#messages li[data-position] .text')].map((e) => e.textContent)) === JSON.stringify(w), want, { timeout: T });
  } catch (e) {
    throw new Error(`${what}: want ${JSON.stringify(want)}, have ${JSON.stringify(await texts(page))}`);
  }
}
async function send(page, text) {
  await page.locator('#msg').fill(text);
  await page.locator('#msg').press('Enter');
}
const roomButton = (page, roomId) => page.locator(`#rooms button[data-room-id="${roomId}"]`);
const badge = (page, roomId) => roomButton(page, roomId).locator('.badge');

let ok = false;
try {
  const a = await user('Alice', url1);
  const b = await user('Bob', url2);
  log(`signed up: A=${a.id} on ${url1}, B=${b.id} on ${url2}`);
  await shot('signed-up');

  // A opens the direct room with B by B's id.
  await a.page.locator('summary', { hasText: 'New direct room' }).click();
  await a.page.getByLabel("Other user's id").fill(String(b.id));
  await a.page.locator('#direct-form').getByRole('button', { name: 'Open' }).click();
  await a.page.locator('#room-h', { hasText: b.nickname }).waitFor();
  const roomId = Number(await a.page.locator('#rooms button[aria-current="true"]').getAttribute('data-room-id'));
  check(roomId > 0, 'the direct room is open and current');
  log(`direct room ${roomId}`);

  // B has not opened it: A's first message shows as an unread badge on B's list.
  await send(a.page, 'hello from A');
  await waitTexts(a.page, ['hello from A'], 'A sees its own message');
  await badge(b.page, roomId).filter({ hasText: '1' }).waitFor();
  check(await roomButton(b.page, roomId).locator('.last').textContent() === `${a.nickname}: hello from A`,
    'B sees the last message in the room list');
  await shot('unread-badge');

  // B opens the room: the badge resets, the message is there.
  await roomButton(b.page, roomId).click();
  await waitTexts(b.page, ['hello from A'], 'B sees the history');
  await badge(b.page, roomId).waitFor({ state: 'detached' });

  // Live both ways, and a burst arrives complete and in order on the other node.
  await send(b.page, 'hi from B');
  await waitTexts(a.page, ['hello from A', 'hi from B'], 'A sees B live');
  const burst = [1, 2, 3, 4, 5].map((i) => `A burst ${i}`);
  for (const t of burst) await send(a.page, t);
  const all = ['hello from A', 'hi from B', ...burst];
  await waitTexts(b.page, all, 'B sees the burst live and in order');
  await waitTexts(a.page, all, 'A sees its burst confirmed in order');
  await shot('exchanged');

  // B has the room open: A's last message gets "Seen" from B's read receipt.
  await a.page.locator('#messages li.mine').last().locator('.state[data-state="seen"]').waitFor();
  check(await a.page.locator('#messages .state[data-state="seen"]').count() === 1, 'one Seen mark');
  await shot('seen');

  // Reload: history from the server, in order; nothing unread for B.
  await b.page.reload();
  await b.page.locator('#conn', { hasText: 'Connected' }).waitFor();
  await roomButton(b.page, roomId).waitFor();
  await badge(b.page, roomId).waitFor({ state: 'detached' });
  await roomButton(b.page, roomId).click();
  await waitTexts(b.page, all, 'B sees the history after a reload');
  await a.page.reload();
  await roomButton(a.page, roomId).click();
  await waitTexts(a.page, all, 'A sees the history after a reload');
  await shot('reloaded');

  // B goes to no room (reload), A writes: the badge appears live, then resets on open.
  await b.page.reload();
  await roomButton(b.page, roomId).waitFor();
  await b.page.locator('#conn', { hasText: 'Connected' }).waitFor();
  await send(a.page, 'are you there?');
  await badge(b.page, roomId).filter({ hasText: '1' }).waitFor();
  await shot('unread-again');
  await roomButton(b.page, roomId).click();
  await waitTexts(b.page, [...all, 'are you there?'], 'B sees the new message');
  await badge(b.page, roomId).waitFor({ state: 'detached' });
  // Presence: both are online, shown by the dots in the member list.
  await b.page.locator(`#members li[data-user-id="${a.id}"] .dot[data-status="ONLINE"]`).waitFor();
  await shot('done');
  ok = true;
  console.log(JSON.stringify({ ok: true, roomId, messages: all.length + 1 }));
} catch (e) {
  console.error(`[web e2e] FAILED: ${e.stack || e}`);
  try { await shot('failure'); } catch (e2) { /* the browser may be gone */ }
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
