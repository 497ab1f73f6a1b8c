// Token expiry and refresh with a real third-party STOMP client (@stomp/stompjs over
// `ws`), run by tests/integration/session_life.py.
//
// mode "refresh": connects with a short-lived token, sends SEND /app/auth.refresh with
// the fresh token in an Authorization header and a receipt, waits until the short
// token's exp has passed (plus 1.5 s), proves the session is alive with a receipted
// SUBSCRIBE, and disconnects. mode "expire": connects with the short token and waits
// for the server's ERROR (token-expired). Prints one JSON line; exits 1 on failure or
// after a 30 s deadline.
//
// usage: node refresh.mjs <ws-url> <short-token> <fresh-token|-> <refresh|expire>
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

Object.assign(globalThis, { WebSocket });

const [url, shortToken, freshToken, mode] = process.argv.slice(2);
const result = { receipt: null, aliveAfterOldExp: false, checkedAt: null, stompError: null,
                 errorAt: null };
const done = (code) => {
  console.log(JSON.stringify(result));
  process.exit(code);
};
const deadline = setTimeout(() => { console.error('deadline passed'); done(1); }, 30000);
const expOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url')).exp;

const client = new Client({
  brokerURL: url,
  connectHeaders: { Authorization: `Bearer ${shortToken}` },
  heartbeatIncoming: 0,
  heartbeatOutgoing: 300, // below the node's floor: only the expiry may close us
  reconnectDelay: 0,
  debug: () => {},
});

const receipt = (id) => new Promise((resolve) => client.watchForReceipt(id, resolve));

client.onStompError = (frame) => {
  result.stompError = frame.headers.message;
  result.errorAt = Date.now() / 1000;
};
client.onWebSocketClose = () => {
  clearTimeout(deadline);
  const ok = mode === 'expire' ? result.stompError === 'token-expired'
                               : result.aliveAfterOldExp && result.stompError === null;
  done(ok ? 0 : 1);
};

client.onConnect = async () => {
  if (mode === 'expire')
    return; // the server ends it
  const r = receipt('refresh-1');
  client.publish({ destination: '/app/auth.refresh',
                   headers: { Authorization: `Bearer ${freshToken}`, receipt: 'refresh-1' } });
  await r;
  result.receipt = 'refresh-1';
  const waitMs = (expOf(shortToken) + 1.5) * 1000 - Date.now();
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, waitMs)));
  const alive = receipt('alive');
  client.subscribe('/user/queue/errors', () => {}, { id: 'errs', receipt: 'alive' });
  await alive;
  result.aliveAfterOldExp = true;
  result.checkedAt = Date.now() / 1000;
  await client.deactivate();
};

client.activate();
