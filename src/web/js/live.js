// The live connection: STOMP over WebSocket at /ws with @stomp/stompjs. One
// subscription per watched room; on every (re)connect each room is subscribed
// again with x-resume-after = the position of the last message seen in it, so the
// server replays what was missed, in order, before live messages (PROTOCOL.md,
// "Resume"). Sends carry a receipt and a messageKey: a send that had no receipt
// when the connection dropped is sent again with the same key after reconnecting,
// and the server stores and delivers it once. Heart-beats of 5 s both ways: a missed
// one (twice the interval) drops the socket, so a silent network loss shows within
// ~10 s. /user/queue/events tells about rooms added and removed (onEvent); a renewed
// access token is handed to the running session with /app/auth.refresh.
import { Client, ReconnectionTimeMode } from '@stomp/stompjs';

export function createLive({ getToken, onMessage, onRead, onEvent, onStatus, onAppError, onAuthFailed, onReconnected, onTyping = () => {} }) { // reading: onTyping
  const positions = new Map(); // roomId -> last position seen (number)
  const watched = new Set();
  const subs = new Map(); // roomId -> stompjs subscription
  const pending = new Map(); // receipt id -> {frame, resolve, reject}
  let connectedOnce = false;
  let seq = 0;

  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  const client = new Client({
    brokerURL: url,
    heartbeatIncoming: 5000,
    heartbeatOutgoing: 5000,
    heartbeatToleranceMultiplier: 2,
    discardWebsocketOnCommFailure: true,
    connectionTimeout: 10000, // a handshake that hangs (a silent network) is tried again
    reconnectDelay: 500,
    maxReconnectDelay: 8000,
    reconnectTimeMode: ReconnectionTimeMode.EXPONENTIAL,
  });

  client.beforeConnect = () => {
    // Every (re)connect carries the newest token, which another tab may have renewed.
    client.connectHeaders = { Authorization: 'Bearer ' + getToken() };
    onStatus(connectedOnce ? 'reconnecting' : 'connecting');
  };
  client.onConnect = () => {
    const again = connectedOnce;
    connectedOnce = true;
    onStatus('connected');
    subs.clear();
    client.subscribe('/user/queue/errors', (m) => {
      let body = {};
      try { body = JSON.parse(m.body); } catch (e) { /* keep empty */ }
      const err = body.error || { code: 'ERROR', message: m.body };
      const rid = m.headers['receipt-id'];
      if (rid === 'sub-events') { // a server without per-user events
        onEvent({ type: 'UNAVAILABLE' });
        return;
      }
      const p = rid && pending.get(rid);
      if (p) {
        pending.delete(rid);
        p.reject(err);
      } else {
        onAppError(err);
      }
    }, { id: 'errors' });
    client.subscribe('/user/queue/events', (m) => {
      let body;
      try { body = JSON.parse(m.body); } catch (e) { return; }
      if (body && typeof body.type === 'string') onEvent(body);
    }, { id: 'events', receipt: 'sub-events' });
    for (const room of watched) subscribe(room);
    // Sends still waiting for a receipt: the old connection's fate is unknown, so
    // send them again (same messageKey, so never stored twice).
    for (const [rid, p] of pending) publish(rid, p.frame);
    onReconnected(again);
  };
  client.onWebSocketClose = () => {
    if (client.active) onStatus(connectedOnce ? 'reconnecting' : 'connecting');
  };
  client.onStompError = (frame) => {
    const msg = frame.headers.message || 'error';
    if (/^authentication|^token-expired/.test(msg)) {
      // The token ran out or was refused: the session renews it (or ends), and the
      // reconnect that follows uses the new one.
      onAuthFailed(msg);
    } else {
      onAppError({ code: 'ERROR', message: msg });
    }
  };

  function subscribe(room) {
    if (!client.connected || subs.has(room)) return;
    const headers = { id: 'room-' + room };
    const pos = positions.get(room);
    if (pos != null) headers['x-resume-after'] = String(pos);
    subs.set(room, client.subscribe('/topic/room.' + room, (m) => {
      let body;
      try { body = JSON.parse(m.body); } catch (e) { return; }
      if (m.headers['x-event'] === 'read') {
        onRead(body);
        return;
      }
      // reading: typing events have no position and are not messages.
      if (m.headers['x-event'] === 'typing') {
        onTyping(body);
        return;
      }
      notePosition(room, body.position);
      onMessage(body);
    }, headers));
  }

  function notePosition(room, pos) {
    if (typeof pos !== 'number') return;
    const cur = positions.get(room);
    if (cur == null || pos > cur) positions.set(room, pos);
  }

  function publish(rid, frame) {
    client.watchForReceipt(rid, () => {
      const p = pending.get(rid);
      if (p) {
        pending.delete(rid);
        p.resolve();
      }
    });
    client.publish({ ...frame, headers: { ...frame.headers, receipt: rid } });
  }

  return {
    start: () => client.activate(),
    stop: () => client.deactivate(),
    watch(room) {
      watched.add(room);
      subscribe(room);
    },
    notePosition,
    // Stops and forgets the subscription of a room the user is no longer in.
    unwatch(room) {
      watched.delete(room);
      const sub = subs.get(room);
      subs.delete(room);
      if (sub && client.connected) sub.unsubscribe();
    },
    // A renewed access token for the running session (no answer needed: a refusal
    // arrives on /user/queue/errors and the next CONNECT uses the new token anyway).
    refresh(token) {
      if (client.connected) {
        client.publish({ destination: '/app/auth.refresh', headers: { Authorization: 'Bearer ' + token } });
      }
    },
    // reading: "typing in roomId", best effort (no receipt, nothing queued while offline).
    typing(roomId) {
      if (client.connected && subs.has(roomId)) {
        client.publish({ destination: '/app/chat.typing', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ roomId }) });
      }
    },
    knowsPosition: (room) => positions.has(room),
    watching: (room) => watched.has(room),
    // Resolves on the server's RECEIPT (Kafka has it), rejects with {code,message}.
    send(roomId, content, messageKey) {
      return new Promise((resolve, reject) => {
        const rid = 'send-' + ++seq;
        const frame = { destination: '/app/chat.send', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ roomId, content, messageKey }) };
        pending.set(rid, { frame, resolve, reject });
        if (client.connected) publish(rid, frame);
      });
    },
  };
}
