// The interop matrix under Node (run by tests/integration/interop_stomp.py): one STOMP
// client library over the `ws` package runs interop_flow.mjs's scenario against a node.
//   stompjs7  @stomp/stompjs 7 (Client, brokerURL; offers v12, v11, v10)
//   webstomp  webstomp-client (webstomp.client; offers v10, v11, v12 in that order)
//   stompjs2  stompjs 2.3.3 (Stomp.over(ws); offers v10, v11, accept-version 1.1,1.0)
// Every socket is a TracedWS: the close code and the heart-beat LFs are read on the
// socket itself, whatever the library makes of them. Prints one JSON line.
//
// usage: node interop.mjs <client> <ws-url> <token> <roomId> <foreignRoomId> <on|off> <idle-ms> <step-ms>
import { Client } from '@stomp/stompjs';
import webstomp from 'webstomp-client';
import Stomp from 'stompjs';
import WebSocket from 'ws';
import { runFlow } from './interop_flow.mjs';

const [client, url, token, roomArg, foreignArg, hb, idleArg, stepArg] = process.argv.slice(2);
const HB = hb === 'on' ? 10000 : 0;

// A `ws` socket that remembers how it closed and counts heart-beat LFs.
class TracedWS extends WebSocket {
  constructor(...args) {
    super(...args);
    this.lfs = 0;
    this.closed = new Promise((resolve) => {
      this.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.on('message', (data) => {
      const s = data.toString();
      if (s === '\n' || s === '\r\n') this.lfs++;
    });
    this.on('error', () => {}); // the close event reports it (1006)
  }
}

// Resolvers by receipt id, for libraries with a single onreceipt callback.
function receipts() {
  const waiting = new Map();
  return {
    wait: (id) => new Promise((resolve) => waiting.set(id, resolve)),
    got: (id) => { const r = waiting.get(id); if (r) { waiting.delete(id); r(); } },
  };
}

function deferred() {
  let resolve, reject;
  const p = new Promise((a, b) => { resolve = a; reject = b; });
  p.catch(() => {});
  return { p, resolve, reject };
}

const adapters = {
  stompjs7: {
    open({ token: t, hb: _ }) {
      let ws;
      const connected = deferred(), errorFrame = deferred();
      const libraryErrors = [];
      const c = new Client({
        webSocketFactory: () => (ws = new TracedWS(url, ['v12.stomp', 'v11.stomp', 'v10.stomp'])),
        connectHeaders: { Authorization: `Bearer ${t}` },
        heartbeatIncoming: HB,
        heartbeatOutgoing: HB,
        reconnectDelay: 0,
        debug: () => {},
      });
      c.onConnect = (f) => connected.resolve({ version: f.headers.version, protocol: ws.protocol, heartBeat: f.headers['heart-beat'] });
      c.onStompError = (f) => { libraryErrors.push(`ERROR ${f.headers.message}`); errorFrame.resolve({ message: f.headers.message, body: f.body }); };
      c.onWebSocketError = () => libraryErrors.push('websocket error');
      c.activate();
      const wsReady = new Promise((resolve) => { const w = () => (ws ? resolve(ws) : setTimeout(w, 5)); w(); });
      return {
        connected: connected.p, errorFrame: errorFrame.p, libraryErrors,
        closed: wsReady.then((s) => s.closed),
        heartbeats: () => (ws ? ws.lfs : 0),
        subscribe(dest, id, receipt, on) {
          const r = new Promise((resolve) => c.watchForReceipt(receipt, resolve));
          c.subscribe(dest, (m) => on(m.body), { id, receipt });
          return r;
        },
        send(dest, body, receipt) {
          const r = new Promise((resolve) => c.watchForReceipt(receipt, resolve));
          c.publish({ destination: dest, body, headers: { receipt, 'content-type': 'application/json' } });
          return r;
        },
        disconnect: () => { c.deactivate(); },
      };
    },
  },

  // webstomp-client and stompjs 2.3.3 share an API (connect/subscribe/send/disconnect
  // with an errorCallback that also hears about unexpected closes).
  webstomp: {
    open: (o) => classic(o, (ws) => webstomp.over(ws, { heartbeat: HB ? { incoming: HB, outgoing: HB } : false, debug: false }),
      ['v10.stomp', 'v11.stomp', 'v12.stomp'], (s, dest, body, headers) => s.send(dest, body, headers)),
  },
  stompjs2: {
    open: (o) => classic(o, (ws) => {
      const s = Stomp.over(ws);
      s.heartbeat = { incoming: HB, outgoing: HB };
      s.debug = () => {};
      return s;
    }, ['v10.stomp', 'v11.stomp'], // what Stomp.client(url) offers
    (s, dest, body, headers) => s.send(dest, headers, body)), // 2.x: send(destination, headers, body)
  },
};

function classic({ token: t }, make, protocols, send) {
  const ws = new TracedWS(url, protocols);
  const s = make(ws);
  const connected = deferred(), errorFrame = deferred();
  const libraryErrors = [];
  const rs = receipts();
  s.onreceipt = (f) => rs.got(f.headers['receipt-id']);
  s.connect({ Authorization: `Bearer ${t}` },
    (f) => connected.resolve({ version: f.headers.version, protocol: ws.protocol, heartBeat: f.headers['heart-beat'] }),
    (e) => {
      if (e && e.command === 'ERROR') {
        libraryErrors.push(`ERROR ${e.headers.message}`);
        errorFrame.resolve({ message: e.headers.message, body: e.body });
      } else {
        libraryErrors.push(typeof e === 'string' ? e : `close event ${e && e.code}`);
      }
    });
  return {
    connected: connected.p, errorFrame: errorFrame.p, libraryErrors, closed: ws.closed,
    heartbeats: () => ws.lfs,
    subscribe(dest, id, receipt, on) {
      const r = rs.wait(receipt);
      s.subscribe(dest, (m) => on(m.body), { id, receipt });
      return r;
    },
    send(dest, body, receipt) {
      const r = rs.wait(receipt);
      send(s, dest, body, { receipt, 'content-type': 'application/json' });
      return r;
    },
    disconnect: () => s.disconnect(() => {}, { receipt: 'bye' }),
  };
}

if (!adapters[client]) {
  console.error(`unknown client ${client}: one of ${Object.keys(adapters).join(', ')}`);
  process.exit(2);
}
const out = await runFlow(adapters[client], {
  client, hb, token, roomId: Number(roomArg), foreignRoomId: Number(foreignArg),
  idleMs: Number(idleArg), stepMs: Number(stepArg),
});
console.log(JSON.stringify(out));
process.exit(0);
