// The interop matrix's scenario, the same for every STOMP client (tests/e2e/stomp/
// interop.mjs runs it with @stomp/stompjs, webstomp-client and stompjs 2.3.3 over `ws`;
// tests/e2e/web/stomp_browser.mjs loads this file into Chromium, with `export` removed,
// and runs it over the browser's own WebSocket). No imports: it must also run as a
// classic page script.
//
// An adapter hides the library: adapter.open({token, hb}) returns a connection with
//   connected: Promise of {version, protocol, heartBeat} (CONNECTED arrived)
//   errorFrame: Promise of {message, body} (the first ERROR frame)
//   closed: Promise of {code, reason} (the WebSocket's close event)
//   subscribe(destination, id, receipt, onMessage(body)): Promise (its RECEIPT)
//   send(destination, body, receipt): Promise (its RECEIPT)
//   disconnect(): the library's own clean disconnect
//   heartbeats(): heart-beat LFs received so far
//   libraryErrors: what the library reported as errors (strings)
//
// runFlow returns one object with what each step saw; the Python side asserts on it.
export async function runFlow(adapter, o) {
  const out = { client: o.client, hb: o.hb, steps: {} };
  const within = (p, ms, what) =>
    Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms))]);
  const T = o.stepMs;
  const step = async (name, fn) => {
    try {
      out.steps[name] = { ok: true, ...(await fn()) };
    } catch (e) {
      out.steps[name] = { ok: false, why: String(e && e.message ? e.message : e) };
    }
    return out.steps[name].ok;
  };
  const chat = (roomId, content) => JSON.stringify({ roomId, content });

  // Rejects when the connection closes (with the ERROR that came before, if any).
  const dead = (conn) => conn.closed.then((x) => {
    throw new Error(`connection closed (${x.code})${conn.lastError ? ' after ERROR ' + conn.lastError.message : ''}`);
  });
  const waitUntil = (cond, conn) => Promise.race([new Promise((resolve) => {
    const check = () => (cond() || conn.isClosed ? resolve() : setTimeout(check, 20));
    check();
  }), dead(conn)]);
  const open = async (token) => {
    const conn = adapter.open({ token, hb: o.hb });
    conn.errorFrame.then((f) => { conn.lastError = f; });
    const info = await within(Promise.race([conn.connected, conn.errorFrame.then((f) => {
      throw new Error(`ERROR ${f.message}`);
    }), conn.closed.then((x) => { throw new Error(`closed ${x.code}`); })]), T, 'CONNECTED');
    conn.closed.then(() => { conn.isClosed = true; });
    return [conn, info];
  };
  const sendAndReceive = async (conn, inbox, content, receipt) => {
    await within(Promise.race([conn.send('/app/chat.send', chat(o.roomId, content), receipt),
      dead(conn)]), T, `RECEIPT ${receipt}`);
    await within(waitUntil(() => inbox.some((b) => JSON.parse(b).content === content), conn), T,
      `own MESSAGE ${content}`);
    return {};
  };
  const dest = `/topic/room.${o.roomId}`;

  // 1. The idle session, alongside the others: silence for longer than twice the
  //    node's heart-beat. A session that asked for heart-beats gets them; one that sent
  //    0,0 must neither be closed nor get LFs. Then it sends and receives again.
  const idle = step('idle', async () => {
    const [conn] = await open(o.token);
    const inbox = [];
    await within(Promise.race([conn.subscribe(dest, 'idle-room', 'sub-idle', (b) => inbox.push(b)),
      dead(conn)]), T, 'RECEIPT of SUBSCRIBE');
    const before = conn.heartbeats();
    await Promise.race([new Promise((resolve) => setTimeout(resolve, o.idleMs)), dead(conn)]);
    const lfs = conn.heartbeats() - before;
    await sendAndReceive(conn, inbox, `after idle from ${o.client} hb ${o.hb}`, 'send-idle');
    conn.disconnect();
    await within(conn.closed, T, 'close after DISCONNECT').catch(() => {});
    return { heartbeatsReceived: lfs, libraryErrors: conn.libraryErrors.slice() };
  });

  // 2. The main session: connect, subscribe, send with receipt, receive, a readable
  //    application error on /user/queue/errors, clean disconnect.
  let c;
  const inbox = [];
  const errs = [];
  const ok = await step('connect', async () => {
    const [conn, info] = await open(o.token);
    c = conn;
    return info;
  });
  if (ok) {
    await step('subscribe', async () => {
      await within(Promise.race([c.subscribe(dest, 'room', 'sub-room', (b) => inbox.push(b)), dead(c)]), T, 'RECEIPT of SUBSCRIBE');
      await within(Promise.race([c.subscribe('/user/queue/errors', 'errs', 'sub-errs', (b) => errs.push(b)), dead(c)]), T, 'RECEIPT of SUBSCRIBE errors');
      return {};
    });
    await step('sendReceive', () => sendAndReceive(c, inbox, `hello from ${o.client} hb ${o.hb}`, 'send-1'));
    await step('errorQueue', async () => {
      // A room of someone else's: refused, and the refusal is readable JSON.
      c.send('/app/chat.send', chat(o.foreignRoomId, 'not a member'), 'send-x').catch(() => {});
      await within(waitUntil(() => errs.length, c), T, 'MESSAGE on /user/queue/errors');
      const e = JSON.parse(errs[0]).error;
      if (!e || !e.code || !e.message) throw new Error(`unreadable error body ${errs[0]}`);
      return { code: e.code, message: e.message };
    });
    await step('disconnect', async () => {
      if (c.isClosed) throw new Error('the session was closed before DISCONNECT');
      const errorsBefore = c.libraryErrors.length;
      c.disconnect();
      const x = await within(c.closed, T, 'close after DISCONNECT');
      // Anything the library reports in the moment after the close counts too.
      await new Promise((resolve) => setTimeout(resolve, 200));
      return { code: x.code, reason: x.reason, libraryErrors: c.libraryErrors.slice(errorsBefore) };
    });
    out.libraryErrors = c.libraryErrors.slice();
  }

  // 3. An application error without /user/queue/errors: ERROR with a readable body,
  //    then a WebSocket close frame.
  await step('errorFrame', async () => {
    const e = adapter.open({ token: o.token, hb: o.hb });
    await within(e.connected, T, 'CONNECTED');
    e.send('/app/chat.send', chat(o.foreignRoomId, 'not a member'), 'send-y').catch(() => {});
    const f = await within(e.errorFrame, T, 'ERROR');
    const x = await within(e.closed, T, 'close after ERROR');
    return { message: f.message, body: f.body, code: x.code, reason: x.reason };
  });

  // 4. A refused CONNECT (a token that is not a JWT): ERROR before CONNECTED.
  await step('authError', async () => {
    const e = adapter.open({ token: 'not-a-jwt', hb: o.hb });
    e.connected.then(() => {}, () => {});
    const f = await within(e.errorFrame, T, 'ERROR');
    const x = await within(e.closed, T, 'close after ERROR');
    return { message: f.message, body: f.body, code: x.code, reason: x.reason };
  });
  await idle;
  return out;
}
