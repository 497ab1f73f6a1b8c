// Browser test of history paging (run by tests/integration/web_client.py): one
// user fills a group room with more messages than two history pages hold, reloads,
// and scrolls the log up until every message is there, each once, in the order
// they were delivered live.
//   node history.mjs NODE_URL OUTDIR COUNT
import { join } from 'node:path';
import { args, createGroup, harness, launch, run, T, texts } from './lib.mjs';

const [url, outdir, countArg] = args(2, 'node history.mjs NODE_URL OUTDIR [COUNT]');
const COUNT = Number(countArg || '110');
const browser = await launch();
const { user } = harness(browser, outdir);
async function waitCount(page, n, what) {
  try {
    await page.waitForFunction((k) => document.querySelectorAll('#messages li[data-position]').length === k, n, { timeout: T });
  } catch (e) {
    throw new Error(`${what}: want ${n} messages, have ${(await texts(page)).length}`);
  }
}

let ok = false;
let page = null;
try {
  ({ page } = await user('Dora', url));
  await createGroup(page, `history ${run}`);

  // Paced under the send rate limit (10/s); one refused anyway is retried.
  const want = Array.from({ length: COUNT }, (_, i) => `message ${i + 1}`);
  await page.evaluate(async (lines) => {
    const box = document.getElementById('msg');
    const f = document.getElementById('send-form');
    for (const l of lines) {
      box.value = l;
      f.requestSubmit();
      await new Promise((r) => setTimeout(r, 150));
    }
  }, want);
  const deadline = Date.now() + 4 * T;
  for (;;) {
    const failed = page.locator('#messages li', { has: page.locator('.state[data-state="failed"]') });
    if (await failed.count() === 0 && await page.locator('#messages li[data-position]').count() === COUNT) break;
    if (Date.now() > deadline) throw new Error(`every message confirmed live: have ${(await texts(page)).length}`);
    if (await failed.count() > 0) await failed.first().getByRole('button', { name: 'Retry' }).click();
    await page.waitForFunction((n) => document.querySelectorAll('#messages li[data-position]').length === n ||
      document.querySelector('#messages .state[data-state="failed"]'), COUNT, { timeout: T }).catch(() => {});
  }
  const live = await texts(page);
  if (JSON.stringify([...live].sort()) !== JSON.stringify([...want].sort())) throw new Error('live messages differ from those sent');

  // After a reload only the newest page is there; scrolling to the top loads the rest.
  await page.reload();
  await page.locator(`#rooms button:has-text("history ${run}")`).click();
  await waitCount(page, 50, 'the newest page after the reload');
  await page.screenshot({ path: join(outdir, '01-newest-page.png') });
  for (const n of [100, COUNT]) { // pages of 50
    await page.locator('#log').evaluate((el) => { el.scrollTop = 0; });
    await waitCount(page, n, `after scrolling up to ${n}`);
  }
  await page.locator('#older').waitFor({ state: 'hidden' });
  await page.screenshot({ path: join(outdir, '02-all-pages.png') });
  const got = await texts(page);
  if (JSON.stringify(got) !== JSON.stringify(live)) throw new Error(`history is not the live order: ${JSON.stringify(got.slice(0, 8))}...`);
  ok = true;
  console.log(JSON.stringify({ ok: true, messages: got.length }));
} catch (e) {
  console.error(`[web history] FAILED: ${e.stack || e}`);
  try { if (page) await page.screenshot({ path: join(outdir, 'failure.png'), fullPage: true }); } catch (e2) { /* gone */ }
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
