// Browser test of a day with the web client (run by tests/integration/web_client.py):
// A on node 1, B on node 2 through the test's TCP proxy, C on node 1, D on a node of
// the test's own whose access tokens live 60 s. A finds B by nickname and they chat;
// A creates a private group with B, which appears live in B's list (no reload, no
// poll); A creates an invite link, C opens it signed out, signs up and lands in the
// group; a reload keeps the open room; back/forward move between rooms; D keeps
// chatting past its token's lifetime on the same connection; B's network goes silent
// (noticed within the heart-beat interval), then away, then back: the status says so
// and clears. At 1280x800 and 390x844 the composer is inside the viewport at every
// step (screenshots of each in OUTDIR).
//   node journey.mjs NODE1_URL NODE2_PROXY_URL SHORT_TOKEN_NODE_URL OUTDIR
// Network control as in states.mjs: `CTL freeze|stop|start` on stdout, `ok` on stdin.
import { args, networkControl, check, createGroup, harness, launch, openDirect, run, send, T, waitTexts } from './lib.mjs';

const [url1, url2, urlShort, outdir] = args(4, 'node journey.mjs NODE1_URL NODE2_PROXY_URL SHORT_TOKEN_NODE_URL OUTDIR');
const ctl = networkControl();

const browser = await launch();
const { pages, shotSizes, user } = harness(browser, outdir);
const log = (s) => console.log(`[web journey] ${s}`);
const roomButton = (page, id) => page.locator(`#rooms button[data-room-id="${id}"]`);
const title = (page) => page.locator('#room-h').textContent();

// Every #conn state a page goes through, and every GET /api/rooms it makes.
async function watch(page) {
  const rec = { lists: [] };
  page.on('request', (r) => {
    if (r.method() === 'GET' && new URL(r.url()).pathname === '/api/rooms') rec.lists.push(Date.now());
  });
  await page.evaluate(() => {
    window.__conn = [];
    new MutationObserver(() => window.__conn.push(document.getElementById('conn').dataset.state))
      .observe(document.getElementById('conn'), { attributes: true, attributeFilter: ['data-state'] });
  });
  return rec;
}
const connStates = (page) => page.evaluate(() => window.__conn);

let ok = false;
try {
  // D first: its token's 60 s run while the rest happens.
  const d = await user('Dee', urlShort);
  const dSince = Date.now();
  const dToken = await d.page.evaluate(() => JSON.parse(localStorage.getItem('chat-node.session')).token);
  await watch(d.page);
  const a = await user('Ana', url1, { width: 1280, height: 800 });
  const b = await user('Ben', url2, { width: 390, height: 844 });
  const bRec = await watch(b.page);
  log(`signed up: A on ${url1}, B on ${url2}, D on ${urlShort}`);
  await shotSizes('signed-up');
  check(await b.page.locator('#rooms-empty').isVisible(), 'B with no rooms sees what to do');

  // A finds B by nickname; the room appears in B's list live and they chat.
  const direct = await openDirect(a.page, b.nickname);
  await send(a.page, 'hi Ben');
  await roomButton(b.page, direct).locator('.badge', { hasText: '1' }).waitFor();
  await roomButton(b.page, direct).click();
  await waitTexts(b.page, ['hi Ben'], 'B sees A in the direct room');
  check(await b.page.locator('#back').isVisible(), 'B at 390 px has a Back button in the room header');
  await send(b.page, 'hi Ana');
  await waitTexts(a.page, ['hi Ben', 'hi Ana'], 'A sees B live');
  check(await roomButton(a.page, direct).locator('.last').textContent() === `${b.nickname}: hi Ana`, 'A previews B');
  await shotSizes('direct-chat');
  log(`direct room ${direct}: ok`);

  // A creates a private group with B: it shows up in B's list without a reload.
  const listsBefore = bRec.lists.length;
  await b.page.locator('#back').click();
  await b.page.locator('#rooms').waitFor();
  const groupName = `journey ${run}`;
  const group = await createGroup(a.page, groupName, [b.nickname]);
  await roomButton(b.page, group).filter({ hasText: groupName }).waitFor();
  check(bRec.lists.length > listsBefore, 'B fetched its list because of the event');
  await shotSizes('group-appears-live');
  log(`group ${group} appeared live: ok`);

  // A creates an invite link; C opens it signed out, signs up, and is in the group.
  await a.page.locator('#invite-btn').click();
  await a.page.locator('#invite-create').click();
  await a.page.locator('#invite-link-box').waitFor();
  const link = await a.page.locator('#invite-link').inputValue();
  check(link.startsWith(`${url1}/#/invite/`), `invite link ${link}`);
  await a.page.locator('#invite-copy').click();
  await a.page.locator('#invite-copy', { hasText: 'Copied' }).waitFor();
  await shotSizes('invite-link');
  await a.page.keyboard.press('Escape');
  await a.page.locator('#invite-dialog').waitFor({ state: 'hidden' });
  const c = await user('Cyd', link);
  await c.page.locator('#room-h', { hasText: groupName }).waitFor();
  check(await c.page.locator('#rooms button[aria-current="true"]').getAttribute('data-room-id') === String(group),
    'C landed in the group');
  await send(c.page, 'hello all');
  await waitTexts(a.page, ['hello all'], 'A sees C in the group');
  await a.page.locator(`#members li[data-user-id="${c.id}"]`).waitFor();
  await shotSizes('invited-joined');
  log('invite link: ok');

  // A reload keeps the open room; back and forward move between rooms.
  await c.page.reload();
  await c.page.locator('#room-h', { hasText: groupName }).waitFor();
  await waitTexts(c.page, ['hello all'], 'C after the reload');
  await a.page.goBack();
  await a.page.locator('#room-h', { hasText: b.nickname }).waitFor();
  await waitTexts(a.page, ['hi Ben', 'hi Ana'], 'A back in the direct room');
  await a.page.goForward();
  await a.page.locator('#room-h', { hasText: groupName }).waitFor();
  await waitTexts(a.page, ['hello all'], 'A forward in the group');
  await shotSizes('reload-back-forward');
  log('reload, back, forward: ok');

  // D and A chat; D goes on past its 60 s token, on the same connection.
  const dRoom = await openDirect(d.page, a.nickname);
  await send(d.page, 'before the refresh');
  await roomButton(a.page, dRoom).waitFor();
  const listsIdle = bRec.lists.length;
  const wait = dSince + 72000 - Date.now();
  if (wait > 0) {
    log(`waiting ${Math.round(wait / 1000)} s for D's token to be renewed`);
    await d.page.waitForFunction((t) => JSON.parse(localStorage.getItem('chat-node.session')).token !== t, dToken,
      { timeout: wait + T });
    await d.page.waitForTimeout(Math.max(0, dSince + 72000 - Date.now())); // past the first token's exp
  }
  check(bRec.lists.length === listsIdle, `B fetched no room list while nothing happened (${bRec.lists.length - listsIdle})`);
  await send(d.page, 'after the refresh');
  await roomButton(a.page, dRoom).click();
  await waitTexts(a.page, ['before the refresh', 'after the refresh'], 'A gets D\'s messages across the refresh');
  const dConn = await connStates(d.page);
  check(!dConn.includes('reconnecting'), `D's connection stayed up: ${JSON.stringify(dConn)}`);
  await d.page.locator('#new-chat').click();
  await d.page.locator('#people-q').fill(a.nickname);
  await d.page.locator('#people-results li', { hasText: a.nickname }).waitFor(); // a REST call with the new token
  await d.page.keyboard.press('Escape');
  await shotSizes('token-refreshed');
  log('token refresh: ok');

  // B's network goes silent: noticed within the heart-beat interval, shown in the status.
  await b.page.locator(`#rooms button[data-room-id="${group}"]`).click();
  await b.page.locator('#room-h', { hasText: groupName }).waitFor();
  await ctl('freeze');
  const t0 = Date.now();
  await b.page.locator('#conn[data-state="reconnecting"]').waitFor({ timeout: 20000 + T });
  const noticed = Date.now() - t0;
  check(noticed < 12000 * Number(process.env.CN_TEST_TIMEOUT_SCALE || '1') + 3000, `loss noticed in ${noticed} ms`);
  await b.page.locator('#status[data-kind="conn"]').waitFor();
  await ctl('stop');
  await send(b.page, 'sent while offline');
  await shotSizes('network-lost');
  await ctl('start');
  await b.page.locator('#conn[data-state="connected"]').waitFor({ timeout: 2 * T });
  await b.page.locator('#status').waitFor({ state: 'hidden' });
  await a.page.goBack(); // A to the group
  await a.page.locator('#room-h', { hasText: groupName }).waitFor();
  await waitTexts(a.page, ['hello all', 'sent while offline'], 'what B sent offline arrives once');
  await shotSizes('network-back');
  log(`network cut noticed in ${noticed} ms and cleared: ok`);

  // An error showing (a refused invite link) never pushes the composer off-screen.
  await a.page.evaluate(() => { location.hash = '#/invite/no-such-invitation'; });
  await a.page.locator('#status[data-code="INVITE_NOT_FOUND"]').waitFor();
  await a.page.locator('#room-h', { hasText: groupName }).waitFor();
  check(await a.page.locator('#send-form').isVisible(), 'A is still in the group with its composer');
  await shotSizes('error-showing');
  check(Object.keys(pages).length === 4, 'four users');
  ok = true;
  console.log(JSON.stringify({ ok: true, noticedMs: noticed }));
} catch (e) {
  console.error(`[web journey] FAILED: ${e.stack || e}`);
  try { await shotSizes('failure'); } catch (e2) { /* the browser may be gone */ }
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
