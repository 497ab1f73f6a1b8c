// The open room: history (newest page first, older pages by cursor when the
// log is scrolled to the top), live messages in position order, the sender's own
// messages while they wait for their receipt, "Seen" from read events, and the
// members with presence dots. For reading: day separators, messages grouped by
// sender (name and time once per group), an empty state, the other person's presence
// under a direct room's name, who is typing, and a draft per room.
import { $, h, timeOf } from './dom.js';
import { dayKey, dayLabel, fullDate, lastSeen, sameGroup } from './when.js';
import { createTyping } from './typing.js';
import { loadDraft, saveDraft } from './drafts.js';

export function createChat({ api, me, onError, onSeenNeedsIds, sendTyping = () => {} }) {
  let roomId = null;
  // A messageKey is its sender's idempotency key: two senders may pick the same one, so
  // messages are known by sender and key.
  const keyOf = (m) => `${m.senderId}:${m.messageKey}`;
  let byKey = new Map(); // keyOf(m) -> {m, li}
  let order = []; // keyOf(m) sorted by position (stored and live messages)
  let nextCursor = null;
  let hasNext = false;
  let loadingOlder = false;
  let seenUpTo = 0; // highest messageId another member has read
  let generation = 0; // bumps on every open, so late answers for another room are dropped

  const log = $('log');
  const list = $('messages');
  const nicknames = new Map(); // userId -> nickname, from members and messages
  let direct = null; // the open direct room's other member {id, nickname, status, lastSeenAt}

  // Elements of this module around the shell's: the empty state in the log, the
  // presence line under the room's name, the typing line above the composer.
  const empty = h('p', { id: 'empty-room', class: 'empty-room', hidden: true }, 'No messages yet. Say hello!');
  log.insertBefore(empty, list);
  const presence = h('p', { id: 'room-presence', class: 'room-presence', hidden: true });
  $('room-h').after(presence);
  const typing = createTyping({ send: (id) => sendTyping(id), nameOf: (id) => nicknames.get(id) || 'Someone' });
  $('send-form').before(typing.el);
  typing.el.hidden = true;

  const composer = $('msg');
  composer.addEventListener('input', () => {
    if (!roomId) return;
    saveDraft(me().id, roomId, composer.value);
    if (composer.value.trim()) typing.typed(roomId);
  });
  // Runs before the send handler empties the box: a sent draft is gone.
  $('send-form').addEventListener('submit', () => { if (roomId) saveDraft(me().id, roomId, ''); });
  // "last seen 5 minutes ago" ages while the room stays open; the status itself is
  // asked again now and then (presence is not pushed).
  setInterval(() => {
    if (direct) refreshMembers();
  }, 15000);

  log.addEventListener('scroll', () => {
    if (log.scrollTop < 40) loadOlder();
  });
  $('older').addEventListener('click', () => loadOlder());

  const nearBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 60;
  const toBottom = () => { log.scrollTop = log.scrollHeight; };

  function liFor(m, state) {
    const mine = m.senderId === me().id;
    if (!mine && m.senderNickname) nicknames.set(m.senderId, m.senderNickname);
    return h('li', { class: mine ? 'mine' : null, 'data-key': m.messageKey, 'data-sender': m.senderId, 'data-position': m.position },
      h('span', { class: 'who' }, mine ? 'You' : m.senderNickname),
      h('time', { datetime: m.createdAt, title: fullDate(m.createdAt) }, timeOf(m.createdAt)),
      h('br'),
      h('p', { class: 'text' }, m.content),
      h('span', { class: 'state', 'data-state': state || null }, stateText(state)));
  }

  function stateText(state) {
    if (state === 'sending') return 'Sending…';
    if (state === 'failed') return 'Not sent';
    if (state === 'seen') return 'Seen';
    return '';
  }

  // Puts a stored or live message in its place; returns true when it was new.
  function place(m) {
    const known = byKey.get(keyOf(m));
    if (known && known.m.position != null) {
      if (m.id && !known.m.id) known.m.id = m.id;
      return false;
    }
    const li = liFor(m);
    if (known) known.li.remove(); // our own message, now confirmed by the server
    byKey.set(keyOf(m), { m, li });
    let i = order.length;
    while (i > 0 && byKey.get(order[i - 1]).m.position > m.position) i--;
    order.splice(i, 0, keyOf(m));
    const next = order[i + 1] ? byKey.get(order[i + 1]).li : firstPendingLi();
    list.insertBefore(li, next || null);
    return true;
  }

  function firstPendingLi() {
    for (const el of list.children) if (!el.dataset.position) return el;
    return null;
  }

  // Day separators and groups, recomputed over the whole list after every change (a
  // page of older messages or a late message can land anywhere). The first message of
  // a day carries its separator (a <div class="day"> at its top), so every <li> of the
  // list stays one message; a separator still right is left alone, so a screen reader
  // does not hear "Today" again with every message.
  function decorate() {
    let prev = null;
    for (const li of list.children) {
      const e = byKey.get(`${li.dataset.sender}:${li.dataset.key}`);
      const m = e && e.m;
      if (!m) continue;
      const label = !prev || dayKey(prev.createdAt) !== dayKey(m.createdAt) ? dayLabel(m.createdAt) : '';
      const sep = li.firstElementChild && li.firstElementChild.classList.contains('day') ? li.firstElementChild : null;
      if (sep && sep.textContent !== label) sep.remove();
      if (label && (!sep || sep.textContent !== label)) li.prepend(h('div', { class: 'day', role: 'separator' }, h('span', null, label)));
      li.classList.toggle('cont', sameGroup(prev, m));
      prev = m;
    }
    empty.hidden = list.children.length > 0 || !roomId;
  }

  function renderSeen() {
    let last = null;
    for (const k of order) {
      const { m } = byKey.get(k);
      if (m.senderId === me().id && m.id && m.id <= seenUpTo) last = k;
    }
    for (const k of order) {
      const e = byKey.get(k);
      const s = e.li.querySelector('.state');
      const seen = k === last;
      if ((s.dataset.state === 'seen') !== seen) {
        s.textContent = stateText(seen ? 'seen' : null);
        if (seen) s.dataset.state = 'seen'; else delete s.dataset.state;
      }
    }
  }

  async function open(id, room) {
    const gen = ++generation;
    roomId = id;
    byKey = new Map();
    order = [];
    seenUpTo = 0;
    list.replaceChildren();
    empty.hidden = true;
    direct = null;
    presence.hidden = true;
    typing.clear();
    typing.el.hidden = false;
    composer.value = loadDraft(me().id, id);
    $('room-h').textContent = room ? room.title : `Room ${id}`;
    $('send-form').hidden = false;
    $('log').hidden = false;
    $('no-room').hidden = true;
    $('members').replaceChildren();
    try {
      const page = await api.history(id, null);
      if (gen !== generation) return [];
      page.messages.slice().reverse().forEach(place);
      decorate();
      nextCursor = page.nextCursor;
      hasNext = page.hasNext;
      $('older').hidden = !hasNext;
      toBottom();
      refreshMembers();
      return page.messages;
    } catch (e) {
      onError(e);
      return [];
    }
  }

  async function loadOlder() {
    if (!roomId || !hasNext || loadingOlder) return;
    loadingOlder = true;
    const gen = generation;
    try {
      const page = await api.history(roomId, nextCursor);
      if (gen !== generation) return;
      const before = log.scrollHeight;
      page.messages.forEach(place);
      decorate();
      nextCursor = page.nextCursor;
      hasNext = page.hasNext;
      $('older').hidden = !hasNext;
      log.scrollTop += log.scrollHeight - before; // keep the reader's place
      renderSeen();
    } catch (e) {
      onError(e);
    } finally {
      loadingOlder = false;
    }
  }

  async function refreshMembers() {
    if (!roomId) return;
    const gen = generation;
    try {
      const d = await api.room(roomId);
      if (gen !== generation) return;
      for (const u of d.members) if (u.id !== me().id) nicknames.set(u.id, u.nickname);
      direct = d.type === 'DIRECT' ? d.members.find((u) => u.id !== me().id) || null : null;
      renderPresence();
      $('members').replaceChildren(...d.members.map((u) => h('li', { 'data-user-id': u.id },
        h('span', { class: 'dot', 'data-status': u.status, role: 'img', 'aria-label': u.status === 'ONLINE' ? 'online' : 'offline' }),
        u.id === me().id ? `${u.nickname} (you)` : u.nickname)));
      return d;
    } catch (e) {
      return null;
    }
  }

  function renderPresence() {
    presence.hidden = !direct;
    if (!direct) return;
    $('room-h').textContent = direct.nickname;
    presence.dataset.status = direct.status;
    presence.textContent = direct.status === 'ONLINE' ? 'online' : lastSeen(direct.lastSeenAt);
  }

  return {
    open,
    refreshMembers,
    current: () => roomId,
    // A live message of the open room.
    add(m) {
      if (m.roomId !== roomId) return;
      const stick = nearBottom() || m.senderId === me().id;
      typing.stop(m.senderId);
      const added = place(m);
      if (added) decorate();
      if (added && stick) toBottom();
      if (m.senderId === me().id && m.id == null && seenUpTo) onSeenNeedsIds(roomId);
    },
    // The sender's own message before its receipt; state 'sending' or 'failed'.
    pending(m, state, retry) {
      if (m.roomId !== roomId) return;
      const known = byKey.get(keyOf(m));
      if (known && known.m.position != null) return; // already delivered
      const li = liFor(m, state);
      if (state === 'failed') li.append(' ', h('button', { type: 'button', onclick: retry }, 'Retry'));
      if (known) known.li.replaceWith(li);
      else list.append(li);
      byKey.set(keyOf(m), { m, li });
      decorate();
      toBottom();
    },
    // Ids for messages that came live without one (read events name stored ids).
    mergeIds(messages) {
      for (const s of messages) {
        const e = byKey.get(keyOf(s));
        if (e && !e.m.id) e.m.id = s.id;
      }
      renderSeen();
    },
    // A typing event of a room (live.js); the typist's own come back too.
    onTyping(ev) {
      if (ev.roomId !== roomId || ev.userId === me().id) return;
      typing.show(ev.userId, ev.expiresInMs);
    },
    onRead(ev) {
      if (ev.roomId !== roomId || ev.userId === me().id) return false;
      if (ev.messageId > seenUpTo) seenUpTo = ev.messageId;
      const missing = order.some((k) => { const m = byKey.get(k).m; return m.senderId === me().id && !m.id; });
      renderSeen();
      return missing;
    },
  };
}
