// Typing, both ways. Out: while the user types in a room, at most one
// /app/chat.typing per room every 3 s (the server drops more anyway). In: typing events
// of the open room's other members, shown as "Ann is typing…" for the event's
// expiresInMs (5 s) unless that member's message arrives first. Owns the #typing line.
import { h } from './dom.js';

const SEND_EVERY_MS = 3000;
const SHOW_MS = 5000;

export function createTyping({ send, nameOf }) {
  const el = h('p', { id: 'typing', class: 'typing', 'aria-live': 'polite' });
  const who = new Map(); // userId -> timer hiding them
  const lastSent = new Map(); // roomId -> ms of the last typing SEND

  function render() {
    const names = [...who.keys()].map(nameOf);
    el.textContent = names.length === 0 ? ''
      : names.length === 1 ? `${names[0]} is typing…`
        : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : 'Several people are typing…';
  }

  function stop(userId) {
    const t = who.get(userId);
    if (t === undefined) return;
    clearTimeout(t);
    who.delete(userId);
    render();
  }

  return {
    el,
    // The user typed in roomId.
    typed(roomId) {
      const now = Date.now();
      if (now - (lastSent.get(roomId) || 0) < SEND_EVERY_MS) return;
      lastSent.set(roomId, now);
      send(roomId);
    },
    // A typing event of the open room, from someone else.
    show(userId, expiresInMs) {
      clearTimeout(who.get(userId));
      const ms = Math.min(Number(expiresInMs) || SHOW_MS, SHOW_MS * 2);
      who.set(userId, setTimeout(() => stop(userId), ms));
      render();
    },
    stop,
    // Another room opened: nobody there is known to be typing.
    clear() {
      for (const t of who.values()) clearTimeout(t);
      who.clear();
      render();
    },
  };
}
