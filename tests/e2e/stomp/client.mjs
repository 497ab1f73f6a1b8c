// Interoperability check of chat-node's /ws with a real third-party STOMP client:
// @stomp/stompjs over the `ws` package under Node. Connects with a bearer token,
// subscribes to /user/queue/errors and a room with receipts, unsubscribes, sends one
// chat message (refused with an application error until the Kafka path lands), then
// disconnects cleanly. Prints one JSON line with what it saw; exits 1 on any failure
// or after a 15 s deadline.
//
// usage: node client.mjs <ws-url> <token> <roomId>
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

Object.assign(globalThis, { WebSocket });

const [url, token, roomId] = process.argv.slice(2);
const result = { connected: null, receipts: [], error: null, disconnected: false };
const fail = (why) => {
  console.error(`stompjs check failed: ${why}`);
  console.log(JSON.stringify(result));
  process.exit(1);
};
const deadline = setTimeout(() => fail('deadline passed'), 15000);

const client = new Client({
  brokerURL: url,
  connectHeaders: { Authorization: `Bearer ${token}` },
  heartbeatIncoming: 0,
  heartbeatOutgoing: 1000,
  reconnectDelay: 0,
  debug: () => {},
});

const receipt = (id) =>
  new Promise((resolve) => client.watchForReceipt(id, () => { result.receipts.push(id); resolve(); }));

client.onStompError = (frame) => fail(`ERROR ${frame.headers.message}`);
client.onWebSocketError = () => fail('websocket error');
client.onDisconnect = () => {
  result.disconnected = true;
};
client.onWebSocketClose = () => {
  clearTimeout(deadline);
  console.log(JSON.stringify(result));
  process.exit(result.disconnected ? 0 : 1);
};

client.onConnect = async (frame) => {
  result.connected = frame.headers;
  let errorArrived;
  const gotError = new Promise((resolve) => { errorArrived = resolve; });
  const r0 = receipt('sub-errors');
  client.subscribe('/user/queue/errors', (m) => {
    result.error = JSON.parse(m.body).error;
    errorArrived();
  }, { id: 'errs', receipt: 'sub-errors' });
  await r0;
  const r1 = receipt('sub-room');
  const sub = client.subscribe(`/topic/room.${roomId}`, () => {}, { receipt: 'sub-room' });
  await r1;
  const r2 = receipt('unsub-room');
  sub.unsubscribe({ receipt: 'unsub-room' });
  await r2;
  client.publish({
    destination: '/app/chat.send',
    // SYSTEM is the server's own type: refused with INVALID_BODY on the errors queue.
    body: JSON.stringify({ roomId: Number(roomId), content: 'hello from stompjs', type: 'SYSTEM' }),
  });
  await gotError;
  await client.deactivate();
};

client.activate();
