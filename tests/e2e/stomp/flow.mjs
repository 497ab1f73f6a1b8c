// The whole chat flow through a real third-party STOMP client (@stomp/stompjs over
// `ws` under Node), across both nodes:
//   1. alice on node 1 and bob on node 2 subscribe to the room (RECEIPTs awaited);
//   2. alice sends N messages, each awaiting its RECEIPT (Kafka acknowledged);
//      both receive all N, in position order;
//   3. bob disconnects; alice sends M more; bob reconnects to node 1 with
//      x-resume-after: <last position he saw> and gets exactly the M, in order, then
//      one live message;
//   4. alice sends a burst over the per-session limit: the excess is refused with
//      RATE_LIMITED on /user/queue/errors, carrying each refused SEND's receipt id.
// Prints one JSON line with what each client saw; the Python test asserts on it.
// Exits 1 on a STOMP ERROR, a socket error, or after the deadline.
//
// usage: node flow.mjs <ws-url-1> <ws-url-2> <alice-token> <bob-token> <roomId> <N> <M> <deadline-ms>
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

Object.assign(globalThis, { WebSocket });

const [url1, url2, aliceToken, bobToken, roomArg, nArg, mArg, deadlineArg] = process.argv.slice(2);
const roomId = Number(roomArg);
const N = Number(nArg);
const M = Number(mArg);
const dest = `/topic/room.${roomId}`;
const out = { alice: [], bob1: [], bob2: [], rateLimited: [], receipts: 0, sentBurst: 0 };

const fail = (why) => {
  console.error(`stompjs flow failed: ${why}`);
  console.log(JSON.stringify(out));
  process.exit(1);
};
setTimeout(() => fail('deadline passed'), Number(deadlineArg));

function connect(url, token) {
  return new Promise((resolve) => {
    const c = new Client({
      brokerURL: url,
      connectHeaders: { Authorization: `Bearer ${token}` },
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
      reconnectDelay: 0,
      debug: () => {},
    });
    c.onStompError = (f) => fail(`ERROR ${f.headers.message}`);
    c.onWebSocketError = () => fail(`websocket error on ${url}`);
    c.onConnect = () => resolve(c);
    c.activate();
  });
}

const receipt = (c, id) => new Promise((resolve) => c.watchForReceipt(id, resolve));

// Resolves once `list` holds `n` entries.
function waitFor(list, n) {
  return new Promise((resolve) => {
    const check = () => (list.length >= n ? resolve() : setTimeout(check, 10));
    check();
  });
}

async function subscribe(c, list, headers = {}) {
  const id = `sub-${Math.random().toString(36).slice(2)}`;
  const r = receipt(c, id);
  const sub = c.subscribe(dest, (m) => {
    const body = JSON.parse(m.body);
    list.push({ position: body.position, content: body.content, messageId: m.headers['message-id'] });
  }, { ...headers, receipt: id });
  await r;
  return sub;
}

async function send(c, content, id) {
  const r = receipt(c, id);
  c.publish({
    destination: '/app/chat.send',
    headers: { receipt: id, 'content-type': 'application/json' },
    body: JSON.stringify({ roomId, content }),
  });
  await r;
  out.receipts++;
}

const alice = await connect(url1, aliceToken);
let bob = await connect(url2, bobToken);
await subscribe(alice, out.alice);
await subscribe(bob, out.bob1);

for (let i = 0; i < N; i++) await send(alice, `m${i}`, `a${i}`);
await waitFor(out.alice, N);
await waitFor(out.bob1, N);

await bob.deactivate();
const last = out.bob1[out.bob1.length - 1].position;
for (let i = N; i < N + M; i++) await send(alice, `m${i}`, `a${i}`);
await waitFor(out.alice, N + M);

bob = await connect(url1, bobToken);
await subscribe(bob, out.bob2, { 'x-resume-after': String(last) });
await waitFor(out.bob2, M);
await send(alice, 'live', 'a-live');
await waitFor(out.bob2, M + 1);

// The rate limit: errors go to /user/queue/errors with the refused SEND's receipt id.
const errSub = receipt(alice, 'sub-errors');
alice.subscribe('/user/queue/errors', (m) => {
  const body = JSON.parse(m.body);
  if (body.error && body.error.code === 'RATE_LIMITED') out.rateLimited.push(m.headers['receipt-id']);
}, { id: 'errors', receipt: 'sub-errors' });
await errSub;
const BURST = 25;
let burstReceipts = 0;
for (let i = 0; i < BURST; i++) alice.watchForReceipt(`burst-${i}`, () => { burstReceipts++; });
for (let i = 0; i < BURST; i++) {
  alice.publish({
    destination: '/app/chat.send',
    headers: { receipt: `burst-${i}`, 'content-type': 'application/json' },
    body: JSON.stringify({ roomId, content: `burst ${i}` }),
  });
  out.sentBurst++;
}
// Every burst SEND gets exactly one answer: a RECEIPT or a RATE_LIMITED error.
await new Promise((resolve) => {
  const check = () => (burstReceipts + out.rateLimited.length >= BURST ? resolve() : setTimeout(check, 10));
  check();
});
out.burstReceipts = burstReceipts;

await alice.deactivate();
await bob.deactivate();
console.log(JSON.stringify(out));
process.exit(0);
