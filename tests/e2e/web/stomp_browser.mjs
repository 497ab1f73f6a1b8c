// The interop matrix's browser column (run by tests/integration/interop_stomp.py):
// Chromium's own WebSocket with a minimal STOMP client written in page JS, running
// tests/e2e/stomp/interop_flow.mjs's scenario. The page is a document of the node
// itself (/healthz), so the WebSocket upgrade carries the node's own Origin, as the
// web client's does. It offers v10.stomp, v11.stomp, v12.stomp in that order (as
// webstomp-client does) and reads the version to speak from the subprotocol the node
// chose. Each run is one page; the runs go in parallel. Prints one JSON line: a list
// with each run's result.
//
// usage: node stomp_browser.mjs <node-http-url> <runs-json: [{hb, token, roomId, foreignRoomId}]> <idle-ms> <step-ms>
import { readFileSync } from 'node:fs';
import { args, launch } from './lib.mjs';

const [base, runsArg, idleArg, stepArg] = args(4, 'node stomp_browser.mjs <url> <runs-json> <idle-ms> <step-ms>');
const runs = JSON.parse(runsArg);
const flowSource = readFileSync(new URL('../stomp/interop_flow.mjs', import.meta.url), 'utf8')
  .replace(/^export /gm, '');

// Runs in the page: a STOMP client on the browser's WebSocket, as an interop_flow adapter.
async function inPage({ wsUrl, run, idleMs, stepMs }) {
  const HB = run.hb === 'on' ? 10000 : 0;
  const deferred = () => {
    let res;
    const p = new Promise((a) => { res = a; });
    return { p, res };
  };
  const adapter = {
    open({ token }) {
      const ws = new WebSocket(wsUrl, ['v10.stomp', 'v11.stomp', 'v12.stomp']);
      const connected = deferred(), errorFrame = deferred(), closed = deferred();
      const receipts = new Map(), subs = new Map(), libraryErrors = [];
      let lfs = 0, pinger = null;
      const version = () => ({ 'v10.stomp': '1.0', 'v11.stomp': '1.1' })[ws.protocol] || '1.2';
      const esc = (v) => (version() === '1.0' ? v
        : v.replace(/\\/g, '\\\\').replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/:/g, '\\c'));
      const unesc = (v) => (version() === '1.0' ? v
        : v.replace(/\\([rnc\\])/g, (_, c) => ({ r: '\r', n: '\n', c: ':', '\\': '\\' })[c]));
      const write = (cmd, headers, body = '') => {
        const lines = [cmd];
        for (const [k, v] of Object.entries(headers))
          lines.push(cmd === 'CONNECT' ? `${k}:${v}` : `${esc(k)}:${esc(String(v))}`);
        ws.send(lines.join('\n') + '\n\n' + body + '\0');
      };
      ws.onopen = () => write('CONNECT', {
        'accept-version': '1.0,1.1,1.2', host: location.hostname,
        'heart-beat': `${HB},${HB}`, Authorization: `Bearer ${token}`,
      });
      ws.onerror = () => libraryErrors.push('websocket error event');
      ws.onclose = (e) => { clearInterval(pinger); closed.res({ code: e.code, reason: e.reason }); };
      ws.onmessage = (e) => {
        const data = String(e.data);
        if (data === '\n' || data === '\r\n') { lfs++; return; }
        const text = data.replace(/^(\r?\n)+/, '');
        const split = text.search(/\r?\n\r?\n/);
        const head = text.slice(0, split).split(/\r?\n/);
        const rest = text.slice(split).replace(/^\r?\n\r?\n/, '');
        const cmd = head[0];
        const h = {};
        for (const line of head.slice(1)) {
          const i = line.indexOf(':');
          const k = cmd === 'CONNECTED' ? line.slice(0, i) : unesc(line.slice(0, i));
          if (!(k in h)) h[k] = cmd === 'CONNECTED' ? line.slice(i + 1) : unesc(line.slice(i + 1));
        }
        const body = rest.slice(0, rest.lastIndexOf('\0'));
        if (cmd === 'CONNECTED') {
          const sy = Number((h['heart-beat'] || '0,0').split(',')[1]);
          if (HB && sy) pinger = setInterval(() => ws.send('\n'), Math.max(HB, sy));
          connected.res({ version: h.version, protocol: ws.protocol, heartBeat: h['heart-beat'] });
        } else if (cmd === 'RECEIPT') {
          const r = receipts.get(h['receipt-id']);
          if (r) r();
        } else if (cmd === 'MESSAGE') {
          const s = subs.get(h.subscription);
          if (s) s(body);
        } else if (cmd === 'ERROR') {
          errorFrame.res({ message: h.message, body });
        }
      };
      const waitReceipt = (id) => new Promise((resolve) => receipts.set(id, resolve));
      return {
        connected: connected.p, errorFrame: errorFrame.p, closed: closed.p, libraryErrors,
        heartbeats: () => lfs,
        subscribe(destination, id, receipt, on) {
          subs.set(id, on);
          const r = waitReceipt(receipt);
          write('SUBSCRIBE', { id, destination, receipt });
          return r;
        },
        send(destination, body, receipt) {
          const r = waitReceipt(receipt);
          write('SEND', { destination, receipt, 'content-type': 'application/json' }, body);
          return r;
        },
        // DISCONNECT with a receipt, then wait for the node to close (1000).
        disconnect: () => write('DISCONNECT', { receipt: 'bye' }),
      };
    },
  };
  // eslint-disable-next-line no-undef
  return runFlow(adapter, {
    client: 'browser', hb: run.hb, token: run.token, roomId: run.roomId,
    foreignRoomId: run.foreignRoomId, idleMs, stepMs,
  });
}

const browser = await launch();
try {
  const results = await Promise.all(runs.map(async (run) => {
    // bypassCSP: the flow is injected as an inline script into a page of the node.
    const page = await (await browser.newContext({ bypassCSP: true })).newPage();
    page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
    await page.goto(base + '/healthz');
    await page.addScriptTag({ content: flowSource });
    return page.evaluate(inPage, {
      wsUrl: base.replace(/^http/, 'ws') + '/ws', run, idleMs: Number(idleArg), stepMs: Number(stepArg),
    });
  }));
  console.log(JSON.stringify(results));
} finally {
  await browser.close();
}
