// Browser test of the web client's connection and error states (run by
// tests/integration/web_client.py, which owns node C and stops and restarts it on
// request: this script prints `CTL stop` / `CTL start` and waits for a line on
// stdin). A is on the stack's node 1, C on that node of the test's own.
//   node states.mjs NODE_A_URL NODE_C_URL OUTDIR
import { args, networkControl, harness, launch, openDirect, send, T, texts, waitTexts } from './lib.mjs';

const [urlA, urlC, outdir] = args(3, 'node states.mjs NODE_A_URL NODE_C_URL OUTDIR');
const ctl = networkControl();

const browser = await launch();
const { shot, user } = harness(browser, outdir);
const log = (s) => console.log(`[web states] ${s}`);

let ok = false;
try {
  const a = await user('Ann', urlA);
  const c = await user('Cid', urlC);
  const roomId = await openDirect(a.page, c.nickname);
  await send(a.page, 'before');
  await c.page.locator(`#rooms button[data-room-id="${roomId}"]`).click();
  await waitTexts(c.page, ['before'], 'C sees the first message');

  // C's node goes away: C shows it, and what C types waits for the connection.
  await ctl('stop');
  await c.page.locator('#conn[data-state="reconnecting"]').waitFor();
  await c.page.locator('#status[data-kind="conn"]').waitFor();
  await send(c.page, 'typed while offline');
  await c.page.locator('#messages li:not([data-position]) .state[data-state="sending"]').waitFor();
  const missed = ['missed 1', 'missed 2', 'missed 3'];
  for (const t of missed) await send(a.page, t);
  await waitTexts(a.page, ['before', ...missed], 'A has its messages confirmed');
  await shot('disconnected');

  // Back: C resumes from its last position (nothing missed, nothing twice), then its
  // waiting message goes out once.
  await ctl('start');
  await c.page.locator('#conn[data-state="connected"]').waitFor();
  await c.page.locator('#status').waitFor({ state: 'hidden' }); // the condition ended
  const after = ['before', ...missed, 'typed while offline'];
  await waitTexts(c.page, after, 'C after the reconnect');
  await waitTexts(a.page, after, 'A gets the message C typed offline, once');
  await shot('reconnected');
  log('reconnect and resume: ok');

  // Over the rate limit (limits.send_rate, 10/s): refused messages say so and can be retried.
  const burst = Array.from({ length: 16 }, (_, i) => `burst ${i + 1}`);
  await c.page.evaluate((lines) => {
    const box = document.getElementById('msg');
    const form = document.getElementById('send-form');
    for (const l of lines) { box.value = l; form.requestSubmit(); }
  }, burst);
  await c.page.locator('#status[data-code="RATE_LIMITED"]').waitFor();
  await c.page.locator('#messages .state[data-state="failed"]').first().waitFor();
  await shot('rate-limited');
  const deadline = Date.now() + 2 * T;
  for (;;) {
    const failed = c.page.locator('#messages li', { has: c.page.locator('.state[data-state="failed"]') });
    if (await failed.count() === 0 &&
        await c.page.locator('#messages li:not([data-position])').count() === 0) break;
    if (Date.now() > deadline) throw new Error('retries did not get every message through');
    if (await failed.count() > 0) await failed.first().getByRole('button', { name: 'Retry' }).click();
    // The retried message is either confirmed or refused again: wait for either.
    await c.page.waitForFunction(() => !document.querySelector('#messages .state[data-state="sending"]'));
  }
  const got = await texts(c.page);
  const tail = got.slice(after.length);
  if (JSON.stringify([...tail].sort()) !== JSON.stringify([...burst].sort()))
    throw new Error(`after retries C has ${JSON.stringify(tail)}`);
  await waitTexts(a.page, got, 'A has the same messages in the same order');
  await shot('retried');
  log('rate limit and retry: ok');
  ok = true;
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  console.error(`[web states] FAILED: ${e.stack || e}`);
  try { await shot('failure'); } catch (e2) { /* the browser may be gone */ }
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
