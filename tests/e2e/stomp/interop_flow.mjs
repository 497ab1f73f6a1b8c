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

  // 1. The main session: connect, subscribe, send with receipt, receive, a readable
  //    application error on /user/queue/errors, idle, send again, clean disconnect.
  let c;
  const inbox = [];
  const errs = [];
  const ok = await step('connect', async () => {
    c = adapter.open({ token: o.token, hb: o.hb });
    c.errorFrame.then((f) => { out.mainErrorFrame = f; });
    const info = await within(Promise.race([c.connected, c.errorFrame.then((f) => {
      throw new Error(`ERROR ${f.message}`);
    }), c.closed.then((x) => { throw new Error(`closed ${x.code}`); })]), T, 'CONNECTED');
    return info;
  });
  const alive = () => Promise.race([new Promise(() => {}), c.closed.then((x) => {
    throw new Error(`connection closed (${x.code}) ${out.mainErrorFrame ? 'after ERROR ' + out.mainErrorFrame.message : ''}`);
  })]);
  if (ok) {
    const dest = `/topic/room.${o.roomId}`;
    await step('subscribe', async () => {
      await within(Promise.race([c.subscribe(dest, 'room', 'sub-room', (b) => inbox.push(b)), alive()]), T, 'RECEIPT of SUBSCRIBE');
      await within(Promise.race([c.subscribe('/user/queue/errors', 'errs', 'sub-errs', (b) => errs.push(b)), alive()]), T, 'RECEIPT of SUBSCRIBE errors');
      return {};
    });
    const sendAndReceive = async (content, receipt) => {
      await within(Promise.race([c.send('/app/chat.send', chat(o.roomId, content), receipt), alive()]), T, `RECEIPT ${receipt}`);
      await within(Promise.race([new Promise((resolve) => {
        const check = () => (inbox.some((b) => JSON.parse(b).content === content) ? resolve() : setTimeout(check, 20));
        check();
      }), alive()]), T, `own MESSAGE ${content}`);
      return {};
    };
    await step('sendReceive', () => sendAndReceive(`hello from ${o.client} hb ${o.hb}`, 'send-1'));
    await step('errorQueue', async () => {
      // A room of someone else's: refused, and the refusal is readable JSON.
      c.send('/app/chat.send', chat(o.foreignRoomId, 'not a member'), 'send-x').catch(() => {});
      await within(Promise.race([new Promise((resolve) => {
        const check = () => (errs.length ? resolve() : setTimeout(check, 20));
        check();
      }), alive()]), T, 'MESSAGE on /user/queue/errors');
      const e = JSON.parse(errs[0]).error;
      if (!e || !e.code || !e.message) throw new Error(`unreadable error body ${errs[0]}`);
      return { code: e.code, message: e.message };
    });
    await step('idle', async () => {
      // Silence for longer than twice the node's heart-beat: a session that asked for
      // heart-beats keeps them; one that sent 0,0 must neither be closed nor get LFs.
      const before = c.heartbeats();
      await Promise.race([new Promise((resolve) => setTimeout(resolve, o.idleMs)), alive()]);
      const lfs = c.heartbeats() - before;
      await sendAndReceive(`after idle from ${o.client} hb ${o.hb}`, 'send-2');
      return { heartbeatsReceived: lfs };
    });
    await step('disconnect', async () => {
      const errorsBefore = c.libraryErrors.length;
      c.disconnect();
      const x = await within(c.closed, T, 'close after DISCONNECT');
      // Anything the library reports in the moment after the close counts too.
      await new Promise((resolve) => setTimeout(resolve, 200));
      return { code: x.code, reason: x.reason, libraryErrors: c.libraryErrors.slice(errorsBefore) };
    });
    out.libraryErrors = c.libraryErrors.slice();
  }

  // 2. An application error without /user/queue/errors: ERROR with a readable body,
  //    then a WebSocket close frame.
  await step('errorFrame', async () => {
    const e = adapter.open({ token: o.token, hb: o.hb });
    await within(e.connected, T, 'CONNECTED');
    e.send('/app/chat.send', chat(o.foreignRoomId, 'not a member'), 'send-y').catch(() => {});
    const f = await within(e.errorFrame, T, 'ERROR');
    const x = await within(e.closed, T, 'close after ERROR');
    return { message: f.message, body: f.body, code: x.code, reason: x.reason };
  });

  // 3. A refused CONNECT (a token that is not a JWT): ERROR before CONNECTED.
  await step('authError', async () => {
    const e = adapter.open({ token: 'not-a-jwt', hb: o.hb });
    e.connected.then(() => {}, () => {});
    const f = await within(e.errorFrame, T, 'ERROR');
    const x = await within(e.closed, T, 'close after ERROR');
    return { message: f.message, body: f.body, code: x.code, reason: x.reason };
  });
  return out;
}
