// Browser test of reading comfort (run by tests/integration/web_client.py): A on node 1
// and B on node 2 share a direct room created through REST. Checked as the users see
// them: the empty room's text, B's presence under the room's name ("online", then
// "last seen …" once B's page closes), the unread count in B's tab title and its reset,
// three quick messages grouped under one name, the "Today" separator and the full date
// on the time's tooltip, "A is typing…" on B's page and its expiry, "Seen", and a draft
// that survives switching rooms and a reload. Screenshots at 1280x800 and 390x844.
//   node reading.mjs NODE1_URL NODE2_URL OUTDIR
import { args, check, harness, launch, run, send, T, waitTexts } from './lib.mjs';

const [url1, url2, outdir] = args(3, 'node reading.mjs NODE1_URL NODE2_URL OUTDIR');
const browser = await launch();
const { pages, shot, user } = harness(browser, outdir);
const log = (s) => console.log(`[web e2e] ${s}`);

const roomButton = (page, id) => page.locator(`#rooms button[data-room-id="${id}"]`);
const BASE_TITLE = 'chat-node';

// A REST call from the page, with the signed-in user's token.
function rest(page, method, path, body) {
  return page.evaluate(async ([m, p, b]) => {
    const { token } = JSON.parse(localStorage.getItem('chat-node.session'));
    const r = await fetch(p, { method: m, headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
      body: b === undefined ? undefined : JSON.stringify(b) });
    const json = await r.json();
    if (!r.ok) throw new Error(`${m} ${p}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  }, [method, path, body]);
}

async function both(w, hgt, name) {
  for (const p of Object.values(pages)) await p.setViewportSize({ width: w, height: hgt });
  await shot(`${name}-${w}x${hgt}`);
}

async function openRoom(page, id) {
  await roomButton(page, id).click();
  await page.locator(`#rooms button[data-room-id="${id}"][aria-current="true"]`).waitFor();
}

let ok = false;
try {
  const a = await user('Ann', url1);
  const b = await user('Ben', url2);
  for (const p of Object.values(pages)) await p.setViewportSize({ width: 1280, height: 800 });
  log(`signed up: A=${a.id} on ${url1}, B=${b.id} on ${url2}`);
  check(await a.page.title() === BASE_TITLE, 'no unread count in the title at first');

  const room = await rest(a.page, 'POST', '/api/rooms/direct', { targetUserId: b.id });
  const roomId = room.id;
  log(`direct room ${roomId}`);

  // A opens it: the empty room says what to do; the header names B and says B is online.
  await openRoom(a.page, roomId);
  await a.page.locator('#empty-room', { hasText: 'No messages yet. Say hello!' }).waitFor();
  await a.page.locator('#room-h', { hasText: b.nickname }).waitFor();
  await a.page.locator('#room-presence', { hasText: /^online$/ }).waitFor();
  await roomButton(b.page, roomId).waitFor();
  await shot('empty-room');

  // B has not opened the room: A's message counts in B's tab title, and the count goes
  // when B opens it.
  await send(a.page, 'one');
  await waitTexts(a.page, ['one'], 'A sees its first message');
  await a.page.locator('#empty-room').waitFor({ state: 'hidden' });
  await b.page.waitForFunction((t) => document.title === `(1) ${t}`, BASE_TITLE);
  await shot('unread-title');
  await openRoom(b.page, roomId);
  await waitTexts(b.page, ['one'], 'B sees the first message');
  await b.page.waitForFunction((t) => document.title === t, BASE_TITLE);

  // Three quick messages from A: one name and one time over the three, under "Today".
  await send(a.page, 'two');
  await send(a.page, 'three');
  await waitTexts(b.page, ['one', 'two', 'three'], 'B sees the three messages');
  const whos = await b.page.locator('#messages li[data-position] .who').evaluateAll(
    (els) => els.filter((e) => e.offsetParent !== null).map((e) => e.textContent));
  check(JSON.stringify(whos) === JSON.stringify([a.nickname]), `one name over the group, have ${JSON.stringify(whos)}`);
  const times = await b.page.locator('#messages li[data-position] time').evaluateAll(
    (els) => els.filter((e) => e.offsetParent !== null).length);
  check(times === 1, `one time over the group, have ${times}`);
  const days = await b.page.locator('#messages li[data-position] .day').allTextContents();
  check(JSON.stringify(days) === '["Today"]', `one "Today" separator, have ${JSON.stringify(days)}`);
  const tip = await b.page.locator('#messages li[data-position] time').first().getAttribute('title');
  check(tip && /\d{4}/.test(tip) && /\d{1,2}:\d{2}/.test(tip), `the time's tooltip has the full date and time: ${tip}`);
  // The time passes AA contrast on the log's white.
  const color = await b.page.locator('#messages li[data-position] time').first().evaluate((e) => getComputedStyle(e).color);
  const [r, g, bl] = color.match(/\d+/g).map(Number);
  const lin = (c) => { const s = c / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
  const ratio = 1.05 / (0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(bl) + 0.05);
  check(ratio >= 4.5, `the time's contrast is ${ratio.toFixed(2)}:1`);

  // "Seen" on A's last message once B has read it.
  await a.page.locator('#messages li.mine').last().locator('.state[data-state="seen"]').waitFor();
  await shot('grouped-and-seen');

  // A types (unsent): B sees "Ann is typing…", and it goes when the event expires.
  // Typing events are best effort (a loaded node drops one that waited over 5 s): A
  // keeps typing, as a person would, until B shows it or the deadline passes.
  await a.page.locator('#msg').pressSequentially('half a thought', { delay: 30 });
  const typingShown = b.page.locator('#typing', { hasText: `${a.nickname} is typing…` });
  for (const until = Date.now() + 3 * T; ;) {
    try {
      await typingShown.waitFor({ timeout: 4000 });
      break;
    } catch (e) {
      if (Date.now() > until) throw new Error(`B never showed "${a.nickname} is typing…"`);
      await a.page.locator('#msg').pressSequentially('.', { delay: 30 });
    }
  }
  const draft = await a.page.locator('#msg').inputValue();
  await shot('typing');
  await b.page.waitForFunction(() => document.getElementById('typing').textContent === '', null, { timeout: T });
  check(await b.page.locator('#messages li[data-position]').count() === 3, 'typing added no message');

  // The draft stays with its room: another room is empty, coming back brings it back,
  // and so does a reload.
  const other = await rest(a.page, 'POST', '/api/rooms/group', { name: `other ${run}`, memberIds: [], visibility: 'private' });
  await roomButton(a.page, other.id).waitFor();
  await openRoom(a.page, other.id);
  await a.page.locator('#empty-room', { hasText: 'No messages yet. Say hello!' }).waitFor();
  check(await a.page.locator('#msg').inputValue() === '', 'the other room has no draft');
  await openRoom(a.page, roomId);
  await waitTexts(a.page, ['one', 'two', 'three'], 'A sees the room again');
  check(await a.page.locator('#msg').inputValue() === draft, 'the draft is back after switching rooms');
  await a.page.reload();
  await a.page.locator('#conn', { hasText: 'Connected' }).waitFor();
  await openRoom(a.page, roomId);
  await waitTexts(a.page, ['one', 'two', 'three'], 'A sees the room after a reload');
  check(await a.page.locator('#msg').inputValue() === draft, 'the draft is back after a reload');
  await a.page.locator('#msg').press('Enter');
  await waitTexts(b.page, ['one', 'two', 'three', draft], 'B gets the sent draft');
  check(await a.page.locator('#msg').inputValue() === '', 'sending empties the composer');
  await a.page.reload();
  await a.page.locator('#conn', { hasText: 'Connected' }).waitFor();
  await openRoom(a.page, roomId);
  await waitTexts(a.page, ['one', 'two', 'three', draft], 'A sees the room after the second reload');
  check(await a.page.locator('#msg').inputValue() === '', 'a sent draft does not come back');
  await a.page.locator('#room-presence', { hasText: /^online$/ }).waitFor();

  await both(1280, 800, 'wide');
  await both(390, 844, 'narrow');
  for (const p of Object.values(pages)) await p.setViewportSize({ width: 1280, height: 800 });

  // B's only page closes: A's header says when B was last seen.
  await b.page.context().close();
  delete pages.Ben;
  await a.page.locator('#room-presence', { hasText: /^last seen / }).waitFor({ timeout: 3 * T });
  log(`presence after B left: ${await a.page.locator('#room-presence').textContent()}`);
  await shot('last-seen');
  ok = true;
  console.log(JSON.stringify({ ok: true, roomId }));
} catch (e) {
  console.error(`[web e2e] FAILED: ${e.stack || e}`);
  try { await shot('failure'); } catch (e2) { /* the browser may be gone */ }
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
