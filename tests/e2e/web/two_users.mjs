// Browser test of the web client (run by tests/integration/web_client.py):
// two users in two browser contexts, A on node 1 and B on node 2, sign up, open a
// direct room, exchange messages live and in order, see the unread badge appear
// and reset, see "Seen", reload and see the history. Every wait is on a condition
// with a deadline. Screenshots go to OUTDIR.
//   node two_users.mjs NODE1_URL NODE2_URL OUTDIR
import { args, check, harness, launch, openDirect, send, waitTexts } from './lib.mjs';

const [url1, url2, outdir] = args(3, 'node two_users.mjs NODE1_URL NODE2_URL OUTDIR');
const browser = await launch();
const { shot, user } = harness(browser, outdir);
const log = (s) => console.log(`[web e2e] ${s}`);

const roomButton = (page, roomId) => page.locator(`#rooms button[data-room-id="${roomId}"]`);
const badge = (page, roomId) => roomButton(page, roomId).locator('.badge');

let ok = false;
try {
  const a = await user('Alice', url1);
  const b = await user('Bob', url2);
  log(`signed up: A=${a.id} on ${url1}, B=${b.id} on ${url2}`);
  await shot('signed-up');

  // A finds B by nickname and opens their direct room.
  const roomId = await openDirect(a.page, b.nickname);
  log(`direct room ${roomId}`);

  // B has not opened it: A's first message shows as an unread badge on B's list.
  await send(a.page, 'hello from A');
  await waitTexts(a.page, ['hello from A'], 'A sees its own message');
  await badge(b.page, roomId).filter({ hasText: '1' }).waitFor();
  check(await roomButton(b.page, roomId).locator('.last').textContent() === `${a.nickname}: hello from A`,
    'B sees the last message in the room list');
  check(await roomButton(a.page, roomId).locator('.last').textContent() === 'You: hello from A',
    'A sees its own last message as "You: …"');
  await shot('unread-badge');

  // B opens the room (its list got it live): the badge resets, the message is there.
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

  // The reload kept B's open room (it is in the URL).
  check(await b.page.locator('#room-h').textContent() === a.nickname, 'B is still in the room after a reload');

  // B goes back to the list (no room open) and reloads, A writes: the badge appears
  // live, then resets on open.
  await b.page.goBack();
  await b.page.locator('#rooms button[aria-current="true"]').waitFor({ state: 'detached' });
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
