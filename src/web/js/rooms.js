// The room list: the server's rooms merged with what arrived live since the last
// fetch, rendered with unread badges and the last message ("You: …" for one's own).
// Owns the room map; the DOM of #rooms and #rooms-empty.
import { $, h } from './dom.js';

export function createRooms({ onOpen, me }) {
  const rooms = new Map(); // id -> room JSON (+ title)
  const readUpTo = new Map(); // id -> position the user has read up to on this page
  let openId = null;

  const lastPos = (r) => (r.lastMessage && typeof r.lastMessage.position === 'number' ? r.lastMessage.position : -1);

  function merge(list) {
    const seen = new Set();
    for (const s of list) {
      seen.add(s.id);
      const cur = rooms.get(s.id);
      const r = { ...s, title: cur ? cur.title : s.name };
      // A fetch can be older than what came live (the count is updated by the
      // persistence and read pipelines a moment later): keep the newer one.
      if (cur && lastPos(cur) > lastPos(s)) {
        r.lastMessage = cur.lastMessage;
        r.unreadCount = cur.unreadCount;
      }
      if (s.id === openId || lastPos(r) <= (readUpTo.get(s.id) ?? -2)) r.unreadCount = 0;
      rooms.set(s.id, r);
    }
    for (const id of [...rooms.keys()]) if (!seen.has(id)) rooms.delete(id);
    render();
  }

  function onMessage(m, mine) {
    const r = rooms.get(m.roomId);
    if (!r) return false;
    if (lastPos(r) >= m.position) return true;
    r.lastMessage = m;
    if (m.roomId === openId) readUpTo.set(m.roomId, m.position);
    else if (!mine) r.unreadCount = (r.unreadCount || 0) + 1;
    render();
    return true;
  }

  function markRead(id) {
    const r = rooms.get(id);
    if (!r) return;
    readUpTo.set(id, lastPos(r));
    r.unreadCount = 0;
    render();
  }

  function render() {
    const ul = $('rooms');
    const sorted = [...rooms.values()].sort((a, b) =>
      (b.lastMessage ? b.lastMessage.createdAt : b.createdAt).localeCompare(a.lastMessage ? a.lastMessage.createdAt : a.createdAt));
    ul.replaceChildren(...sorted.map((r) => {
      const n = r.unreadCount || 0;
      const lm = r.lastMessage;
      const last = !lm ? 'No messages yet'
        : `${lm.senderId === me().id ? 'You' : lm.senderNickname}: ${lm.content}`;
      return h('li', null, h('button', {
        type: 'button', 'data-room-id': r.id, 'aria-current': r.id === openId ? 'true' : null,
        onclick: () => onOpen(r.id),
      },
      h('span', { class: 'name' }, titleOf(r)),
      n > 0 ? h('span', { class: 'badge', 'aria-label': `${n} unread` }, String(n)) : null,
      h('span', { class: 'last' }, last)));
    }));
    $('rooms-empty').hidden = rooms.size > 0;
    $('rooms').hidden = rooms.size === 0;
  }

  function titleOf(r) {
    return r.title || (r.peer && r.peer.nickname) || (r.type === 'DIRECT' ? 'Direct room' : 'Group room');
  }

  return {
    merge, onMessage, markRead, render, titleOf,
    get: (id) => rooms.get(id),
    remove(id) { rooms.delete(id); render(); },
    ids: () => [...rooms.keys()],
    setOpen(id) { openId = id; render(); },
    setTitle(id, title) { const r = rooms.get(id); if (r) { r.title = title; render(); } },
  };
}
