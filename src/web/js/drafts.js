// A draft per room, in sessionStorage: it survives switching rooms and reloading the
// tab, and goes when the tab closes (a shared computer keeps no half-written text).
// Keys carry the user id, so another account in the same tab never sees it.
const key = (userId, roomId) => `chat-node.draft.${userId}.${roomId}`;

function store() {
  try {
    return window.sessionStorage;
  } catch (e) {
    return null; // storage disabled: drafts last as long as the room stays open
  }
}

export function loadDraft(userId, roomId) {
  const s = store();
  return (s && s.getItem(key(userId, roomId))) || '';
}

export function saveDraft(userId, roomId, text) {
  const s = store();
  if (!s) return;
  try {
    if (text) s.setItem(key(userId, roomId), text);
    else s.removeItem(key(userId, roomId));
  } catch (e) { /* quota full: the draft is only lost on reload */ }
}
