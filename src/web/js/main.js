// Wiring: sign up / log in, the room list, the open room, the live connection,
// and the status line and alert that say what is going on.
import { createApi } from './api.js';
import { createLive } from './live.js';
import { createRooms } from './rooms.js';
import { createChat } from './chat.js';
import { $, uuid } from './dom.js';
import { createNotify } from './notify.js'; // reading: tab title and notifications

const STORE = 'chat-node.session';
const FLASH = 'chat-node.flash'; // a message to show after the reload of a logout
let session = JSON.parse(localStorage.getItem(STORE) || 'null'); // {token, user}
let live = null;
let readTimer = null;

const api = createApi(() => session && session.token, () => logout('Your session has expired: log in again.'));
const rooms = createRooms({ onOpen: (id) => openRoom(id) });
const chat = createChat({
  api,
  me: () => session.user,
  onError: showError,
  onSeenNeedsIds: (id) => fetchIds(id),
  sendTyping: (id) => live && live.typing(id), // reading: typing
});
// reading: unread count in the tab title, desktop notifications when enabled.
const notify = createNotify({
  unreadInList: () => rooms.ids().reduce((n, id) => n + (rooms.get(id).unreadCount || 0), 0),
  onClick: (id) => openRoom(id),
});
$('rooms-empty').after(notify.button);

const ERROR_TEXT = {
  RATE_LIMITED: 'You are sending too fast: the message was not sent. Wait a moment and retry.',
  NOT_MEMBER: 'You are not a member of that room.',
  NOT_A_MEMBER: 'You are not a member of that room.',
  ROOM_NOT_FOUND: 'There is no such room.',
  UNAVAILABLE: 'The server is busy: the message was not stored. Retry.',
  NETWORK: 'The server cannot be reached.',
};

function showError(e) {
  const code = e && e.code;
  $('alert-text').textContent = ERROR_TEXT[code] || (e && e.message) || String(e);
  $('alert').dataset.code = code || '';
  $('alert').hidden = false;
}
$('alert-close').addEventListener('click', () => { $('alert').hidden = true; });

function setStatus(state) {
  const text = { connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Disconnected: reconnecting…', disconnected: 'Disconnected' };
  $('conn').textContent = text[state] || '';
  $('conn').dataset.state = state;
}

// --------------------------------------------------------------- auth

function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = formValues(ev.target);
  try {
    await login(f.email, f.password);
  } catch (e) {
    showError(e.status === 401 ? { message: 'Wrong email or password.' }
      : e.status === 429 ? { message: 'Too many failed logins: wait a little and try again.' } : e);
  }
});

$('signup-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = formValues(ev.target);
  try {
    await api.signup(f.email, f.password, f.nickname);
    await login(f.email, f.password);
  } catch (e) {
    const taken = { EMAIL_TAKEN: 'That email is already taken.', NICKNAME_TAKEN: 'That nickname is already taken.' };
    showError(taken[e.code] ? { message: taken[e.code] } : e);
  }
});

async function login(email, password) {
  const r = await api.login(email, password);
  session = { token: r.accessToken, user: r.user };
  localStorage.setItem(STORE, JSON.stringify(session));
  $('alert').hidden = true;
  start();
}

// Starts over from a fresh page, so nothing of this user's rooms stays in memory.
function logout(why) {
  if (live) live.stop();
  localStorage.removeItem(STORE);
  if (why) sessionStorage.setItem(FLASH, why);
  location.reload();
}
$('logout').addEventListener('click', () => logout());

// --------------------------------------------------------------- rooms

async function refreshRooms() {
  try {
    const list = await api.rooms();
    rooms.merge(list);
    for (const r of list) {
      live.watch(r.id);
      if (r.type === 'DIRECT' && !rooms.get(r.id).title) directTitle(r.id);
    }
  } catch (e) {
    if (e.status !== 401) showError(e);
  }
}

// A direct room is named after the other member by the server; when it has no name (the
// other account is gone), ask the room's members.
const titling = new Set();
async function directTitle(id) {
  if (titling.has(id)) return;
  titling.add(id);
  try {
    const d = await api.room(id);
    const other = d.members.find((u) => u.id !== session.user.id);
    if (other) rooms.setTitle(id, other.nickname);
    if (chat.current() === id) $('room-h').textContent = rooms.titleOf(rooms.get(id));
  } catch (e) {
    titling.delete(id);
  }
}

async function openRoom(id) {
  rooms.setOpen(id);
  const r = rooms.get(id);
  const info = $('room-info');
  info.textContent = !r || r.type !== 'GROUP' ? ''
    : r.visibility === 'public' ? `Public group room ${id}: anyone can join it with this id.`
      : 'Private group room: only the people its members add can see it.';
  info.hidden = !info.textContent;
  const msgs = await chat.open(id, r && { title: rooms.titleOf(r) });
  for (const m of msgs) live.notePosition(id, m.position);
  markRead(id);
  $('msg').focus();
}

function markRead(id) {
  rooms.markRead(id);
  clearTimeout(readTimer);
  readTimer = setTimeout(() => api.read(id).catch(() => {}), 200);
}

async function afterCreate(promise) {
  try {
    const room = await promise;
    await refreshRooms();
    openRoom(room.id);
  } catch (e) {
    showError(e);
  }
}

$('direct-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  afterCreate(api.direct(Number(formValues(ev.target).target)));
});
$('group-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = formValues(ev.target);
  const ids = (f.members || '').split(/[\s,]+/).filter(Boolean).map(Number);
  afterCreate(api.group(f.name, ids, f.visibility === 'public' ? 'public' : 'private'));
});
$('join-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  afterCreate(api.join(Number(formValues(ev.target).room)));
});

// --------------------------------------------------------------- messages

function onMessage(m) {
  const mine = m.senderId === session.user.id;
  if (!rooms.onMessage(m, mine)) refreshRooms(); // a room we did not know yet
  if (!mine) notify.message(m, rooms.get(m.roomId) ? rooms.titleOf(rooms.get(m.roomId)) : m.senderNickname, m.roomId === chat.current()); // reading:
  if (m.roomId === chat.current()) {
    chat.add(m);
    if (!mine && document.visibilityState === 'visible') markRead(m.roomId);
  }
}

async function fetchIds(id) {
  try {
    const page = await api.history(id, null);
    if (chat.current() === id) chat.mergeIds(page.messages);
  } catch (e) { /* the next read event tries again */ }
}

function send(roomId, content, messageKey) {
  const m = { messageKey, roomId, senderId: session.user.id, senderNickname: session.user.nickname, content, createdAt: new Date().toISOString() };
  chat.pending(m, 'sending');
  live.send(roomId, content, messageKey).catch((err) => {
    showError(err);
    chat.pending(m, 'failed', () => send(roomId, content, messageKey));
  });
}

$('send-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const content = $('msg').value;
  const id = chat.current();
  if (!id || !content.trim()) return;
  $('msg').value = '';
  send(id, content, uuid());
});
$('msg').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey) {
    ev.preventDefault();
    $('send-form').requestSubmit();
  }
});

// --------------------------------------------------------------- start

function start() {
  $('auth-view').hidden = true;
  $('chat-view').hidden = false;
  $('me').hidden = false;
  $('me-name').textContent = session.user.nickname;
  $('me-id').textContent = String(session.user.id);
  live = createLive({
    token: session.token,
    onMessage,
    onRead: (ev) => { if (chat.onRead(ev)) fetchIds(ev.roomId); },
    onTyping: (ev) => chat.onTyping(ev), // reading: typing
    onStatus: setStatus,
    onAppError: showError,
    onAuthFailed: () => logout('Your session has expired: log in again.'),
    onReconnected: () => {
      // Rooms resume from their last position; the list and the members are fetched again.
      refreshRooms();
      const id = chat.current();
      if (id && !live.knowsPosition(id)) openRoom(id);
      else chat.refreshMembers();
    },
  });
  live.start();
  refreshRooms();
  // New rooms others put us in, and presence: the server pushes neither.
  setInterval(() => { refreshRooms(); chat.refreshMembers(); }, 5000);
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && chat.current()) markRead(chat.current());
});

const flash = sessionStorage.getItem(FLASH);
sessionStorage.removeItem(FLASH);
if (flash) showError({ message: flash });
if (session && session.token) start();
else $('auth-view').hidden = false;
