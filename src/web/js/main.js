// Wiring: sign up / log in, the session and its token renewal, the room list (kept
// live by /user/queue/events), the open room and its place in the URL (#/room/<id>),
// invite links (#/invite/<token>), the live connection, and the one status area that
// says what is wrong right now and clears when it stops being true.
import { createApi } from './api.js';
import { createLive } from './live.js';
import { createRooms } from './rooms.js';
import { createChat } from './chat.js';
import { createFind } from './find.js';
import { createSession } from './session.js';
import { $, uuid } from './dom.js';
import { createNotify } from './notify.js'; // reading: tab title and notifications

const FLASH = 'chat-node.flash'; // a message to show after the reload of a logout
const INVITE = 'chat-node.invite'; // an invite link opened before signing in
let live = null;
let readTimer = null;
let openId = null; // the room in the URL and on screen

const session = createSession({
  refreshCall: (rt) => api.refresh(rt),
  onToken: (t) => { if (live) live.refresh(t); },
  onEnded: (why) => endPage(why),
  onOtherTabLogout: () => endPage('You logged out in another tab.'),
});
const api = createApi(() => session.token(), (stale) => session.renew(stale));
const me = () => session.user();
const rooms = createRooms({ onOpen: (id) => go(id), me });
const chat = createChat({
  api,
  me,
  onError: showError,
  onSeenNeedsIds: (id) => fetchIds(id),
  sendTyping: (id) => live && live.typing(id), // reading: typing
});
const find = createFind({
  api,
  onError: showError,
  current: () => openId,
  onRoom: async (room) => { await refreshRooms(); go(room.id); },
  onLeft: (id) => { const t = titleOf(id); dropRoom(id); note(`You left "${t}".`); },
});

// --------------------------------------------------------------- the status area
// Conditions by kind; the newest one still true is shown. 'conn' ends when the
// connection is back, 'auth' when the user edits a form or gets in, 'error' (one
// refused action) when dismissed, after a while, or on the next room opened.
const conditions = new Map(); // kind -> {text, code}
let errorTimer = null;

function renderStatus() {
  const last = [...conditions.values()].pop();
  $('status').hidden = !last;
  $('status-text').textContent = last ? last.text : '';
  $('status').dataset.code = last ? last.code || '' : '';
  $('status').dataset.kind = last ? [...conditions.keys()].pop() : '';
}
function setCondition(kind, text, code) {
  conditions.delete(kind); // re-inserted: it is the newest
  conditions.set(kind, { text, code });
  renderStatus();
}
function clearCondition(kind) {
  if (conditions.delete(kind)) renderStatus();
}
$('status-close').addEventListener('click', () => { conditions.clear(); renderStatus(); });
// reading: unread count in the tab title, desktop notifications when enabled.
const notify = createNotify({
  unreadInList: () => rooms.ids().reduce((n, id) => n + (rooms.get(id).unreadCount || 0), 0),
  onClick: (id) => go(id),
});
$('rooms-empty').after(notify.button);

const ERROR_TEXT = {
  RATE_LIMITED: 'You are going too fast: that was refused. Wait a moment and retry.',
  NOT_MEMBER: 'You are not a member of that room.',
  NOT_A_MEMBER: 'You are not a member of that room.',
  ROOM_NOT_FOUND: 'There is no such room, or you are no longer in it.',
  INVITE_NOT_FOUND: 'That invite link does not work: it may have expired, been used up or revoked.',
  UNAVAILABLE: 'The server is busy: that was not stored. Retry.',
  NOT_ALLOWED: 'That person cannot be added by you.',
  NETWORK: 'The server cannot be reached.',
};

function showError(e) {
  const code = e && e.code;
  const text = ERROR_TEXT[code] || (e && e.message) || String(e);
  if (code === 'NETWORK') { setCondition('conn', text, code); return; } // ends when connected
  setCondition('error', text, code);
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => clearCondition('error'), 10000);
}
// An informational notice (room closed, left): shown like a refused action.
const note = (text) => showError({ code: 'NOTICE', message: text });

const CONN_TEXT = { connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', disconnected: 'Disconnected' };
function setConn(state) {
  $('conn').textContent = CONN_TEXT[state] || '';
  $('conn').dataset.state = state;
  if (state === 'connected') clearCondition('conn');
  else if (state === 'reconnecting') setCondition('conn', 'The connection was lost: reconnecting… What you send waits until it is back.', 'RECONNECTING');
  else if (state === 'disconnected') setCondition('conn', 'Disconnected.', 'DISCONNECTED');
}

// --------------------------------------------------------------- auth

const formValues = (form) => Object.fromEntries(new FormData(form).entries());
for (const f of ['login-form', 'signup-form']) $(f).addEventListener('input', () => clearCondition('auth'));

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = formValues(ev.target);
  try {
    await login(f.email, f.password);
    ev.target.reset();
  } catch (e) {
    setCondition('auth', e.status === 401 ? 'Wrong email or password.'
      : e.status === 429 ? 'Too many failed logins: wait a little and try again.' : ERROR_TEXT[e.code] || e.message, e.code);
  }
});

$('signup-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = formValues(ev.target);
  try {
    await api.signup(f.email, f.password, f.nickname);
    await login(f.email, f.password);
    ev.target.reset();
  } catch (e) {
    const taken = { EMAIL_TAKEN: 'That email is already taken.', NICKNAME_TAKEN: 'That nickname is already taken.' };
    setCondition('auth', taken[e.code] || ERROR_TEXT[e.code] || e.message, e.code);
  }
});

async function login(email, password) {
  const r = await api.login(email, password);
  session.start(r);
  clearCondition('auth');
  start();
}

// Starts over from a fresh page, so nothing of this user's rooms stays in memory.
function endPage(why) {
  if (live) live.stop();
  session.clear();
  if (why) sessionStorage.setItem(FLASH, why);
  if (!location.hash.startsWith('#/invite/')) history.replaceState(null, '', location.pathname);
  location.reload();
}
$('logout').addEventListener('click', async () => {
  const s = session.get();
  if (live) live.stop();
  session.clear();
  try { if (s && s.refreshToken) await api.logout(s.refreshToken); } catch (e) { /* signed out here anyway */ }
  history.replaceState(null, '', location.pathname);
  location.reload();
});

// --------------------------------------------------------------- rooms

let refreshing = null;
let started = false; // the first list is in: rooms after it are new ones
let refreshAgain = false;
async function refreshRooms() {
  if (refreshing) { refreshAgain = true; return refreshing; }
  refreshing = (async () => {
    let followUp = false;
    do {
      refreshAgain = false;
      try {
        const before = new Set(rooms.ids());
        const list = await api.rooms();
        rooms.merge(list);
        for (const r of list) {
          before.delete(r.id);
          // A room new to this page resumes after the list's last message: what was
          // sent between the list's answer and the SUBSCRIBE is replayed, not lost. A
          // room without messages has no position to resume from: the list is read
          // once more a moment later instead (a first message sent meanwhile).
          if (!live.knowsPosition(r.id)) {
            if (r.lastMessage) live.notePosition(r.id, r.lastMessage.position);
            else if (started && !live.watching(r.id)) followUp = true;
          }
          live.watch(r.id);
          if (r.type === 'DIRECT' && !rooms.get(r.id).title) directTitle(r.id);
        }
        for (const gone of before) live.unwatch(gone);
        if (openId != null) showRoomHeader(openId);
      } catch (e) {
        if (e.status !== 401) showError(e);
      }
    } while (refreshAgain);
    started = true;
    if (followUp) setTimeout(refreshSoon, 1500);
  })().finally(() => { refreshing = null; });
  return refreshing;
}
let eventTimer = null;
const refreshSoon = () => { clearTimeout(eventTimer); eventTimer = setTimeout(refreshRooms, 150); };

// A direct room is named after the other member by the server; when it has no name (the
// other account is gone), ask the room's members.
const titling = new Set();
async function directTitle(id) {
  if (titling.has(id)) return;
  titling.add(id);
  try {
    const d = await api.room(id);
    const other = d.members.find((u) => u.id !== me().id);
    if (other) rooms.setTitle(id, other.nickname);
    if (openId === id) showRoomHeader(id);
  } catch (e) {
    titling.delete(id);
  }
}

const titleOf = (id) => { const r = rooms.get(id); return r ? rooms.titleOf(r) : 'this room'; };

function showRoomHeader(id) {
  const r = rooms.get(id);
  if (r) $('room-h').textContent = rooms.titleOf(r);
  const group = !!r && r.type === 'GROUP';
  $('invite-btn').hidden = !group;
  $('leave-btn').hidden = !group;
  const info = $('room-info');
  info.textContent = !group ? ''
    : r.visibility === 'public' ? 'Public group: anyone can find and join it.'
      : 'Private group: only the people its members add or invite can see it.';
  info.hidden = !info.textContent;
}

// The URL says which room is open: #/room/<id>; '#/' (or nothing) is the list.
function go(id) {
  const want = id == null ? '#/' : `#/room/${id}`;
  if (location.hash !== want) location.hash = want;
  else route();
}

async function route() {
  const m = /^#\/(room|invite)\/([^/]+)$/.exec(location.hash);
  if (m && m[1] === 'invite') { joinByInvite(decodeURIComponent(m[2])); return; }
  const id = m ? Number(m[2]) : null;
  if (id != null && !(id > 0)) { go(null); return; }
  if (id === openId) return;
  if (id == null) { closeRoom(); return; }
  await openRoom(id);
}

async function joinByInvite(token) {
  try {
    const room = await api.joinInvite(token);
    await refreshRooms();
    location.replace(`#/room/${room.id}`); // the invite link leaves no history entry
    route();
  } catch (e) {
    showError(e);
    location.replace(openId != null ? `#/room/${openId}` : '#/'); // stay where the user was
    route();
  }
}

async function openRoom(id) {
  openId = id;
  clearCondition('error');
  rooms.setOpen(id);
  $('chat-view').dataset.view = 'room';
  showRoomHeader(id);
  if (!rooms.get(id)) {
    // Not in the list (yet): the room's own answer says whether it is ours.
    try {
      const d = await api.room(id);
      if (openId !== id) return;
      if (!rooms.get(id)) $('room-h').textContent = d.name || 'Room';
    } catch (e) {
      if (openId !== id) return;
      showError(e.status === 403 || e.status === 404 ? { code: 'ROOM_NOT_FOUND' } : e);
      location.replace('#/');
      closeRoom();
      return;
    }
  }
  const r = rooms.get(id);
  const msgs = await chat.open(id, { title: r ? rooms.titleOf(r) : $('room-h').textContent });
  if (openId !== id) return;
  for (const m of recent.get(id) || []) chat.add(m);
  live.watch(id);
  for (const m of msgs) live.notePosition(id, m.position);
  markRead(id);
  if (matchMedia('(min-width: 701px)').matches || document.activeElement === document.body) $('msg').focus();
}

function closeRoom() {
  openId = null;
  rooms.setOpen(null);
  $('chat-view').dataset.view = 'list';
  $('room-h').textContent = 'Pick a room';
  for (const e of ['log', 'send-form', 'invite-btn', 'leave-btn', 'room-info']) $(e).hidden = true;
  $('members').replaceChildren();
  $('no-room').hidden = false;
}

// The user is no longer in room `id` (left, removed, closed).
function dropRoom(id) {
  rooms.remove(id);
  recent.delete(id);
  live.unwatch(id);
  if (openId === id) go(null);
}

$('back').addEventListener('click', () => go(null));
$('leave-btn').addEventListener('click', () => find.confirmLeave(openId, titleOf(openId)));
window.addEventListener('hashchange', route);

function markRead(id) {
  if (openId !== id) return;
  rooms.markRead(id);
  clearTimeout(readTimer);
  readTimer = setTimeout(() => api.read(id).catch(() => {}), 200);
}

let fallbackPoll = null;
function onEvent(ev) {
  if (ev.type === 'UNAVAILABLE') {
    // A node without /user/queue/events (an older one during an upgrade): read the
    // list now and then instead, until a connection has them.
    if (!fallbackPoll) fallbackPoll = setInterval(refreshSoon, 10000);
    return;
  }
  if (ev.type === 'ROOM_REMOVED') {
    const why = { LEFT: 'You left', REMOVED: 'You were removed from', CLOSED: 'This room was closed:' };
    if (ev.roomId === openId) note(`${why[ev.reason] || 'You are no longer in'} "${titleOf(ev.roomId)}".`);
    dropRoom(ev.roomId);
  }
  if (ev.type === 'MEMBERS_CHANGED' && ev.roomId === openId) chat.refreshMembers();
  refreshSoon(); // every event, known or not: the list is the truth
}

// --------------------------------------------------------------- messages

// Live messages kept per room (the newest RECENT_MAX): a room opened right after a message
// arrived may get a history page that PostgreSQL has not caught up with yet, and a
// message that arrives while the room is still loading has no list to go into. Both
// are put in place again after the history (the chat drops what it already has).
const RECENT_MAX = 100;
const recent = new Map(); // roomId -> [message]
function remember(m) {
  const list = recent.get(m.roomId) || [];
  list.push(m);
  if (list.length > RECENT_MAX) list.shift();
  recent.set(m.roomId, list);
}

function onMessage(m) {
  const mine = m.senderId === me().id;
  remember(m);
  if (!rooms.onMessage(m, mine)) refreshSoon(); // a room we did not know yet
  if (!mine) notify.message(m, rooms.get(m.roomId) ? rooms.titleOf(rooms.get(m.roomId)) : m.senderNickname, m.roomId === openId); // reading:
  if (m.roomId === openId) {
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
  const m = { messageKey, roomId, senderId: me().id, senderNickname: me().nickname, content, createdAt: new Date().toISOString() };
  chat.pending(m, 'sending');
  live.send(roomId, content, messageKey).catch((err) => {
    showError(err);
    chat.pending(m, 'failed', () => send(roomId, content, messageKey));
  });
}

$('send-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const content = $('msg').value;
  const id = openId;
  if (!id || !content.trim()) return;
  $('msg').value = '';
  send(id, content, uuid());
});
$('msg').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    $('send-form').requestSubmit();
  }
});

// --------------------------------------------------------------- start

function start() {
  $('auth-view').hidden = true;
  $('chat-view').hidden = false;
  $('me').hidden = false;
  $('me-name').textContent = me().nickname;
  live = createLive({
    getToken: () => session.token(),
    onMessage,
    onEvent,
    onRead: (ev) => { if (chat.onRead(ev)) fetchIds(ev.roomId); },
    onTyping: (ev) => chat.onTyping(ev), // reading: typing
    onStatus: setConn,
    onAppError: (e) => { if (e.code !== 'INVALID_TOKEN') showError(e); },
    onAuthFailed: () => { const t = session.token(); session.renew(t).catch(() => {}); },
    onReconnected: (again) => {
      clearInterval(fallbackPoll); // the events subscription is tried again
      fallbackPoll = null;
      // Events are not replayed: the list is fetched once after every (re)connect.
      // Rooms resume from their last position; the members are fetched again.
      refreshSoon();
      if (!again) return;
      if (openId != null && !live.knowsPosition(openId)) { const id = openId; openId = null; openRoom(id); }
      else chat.refreshMembers();
    },
  });
  live.start();
  refreshRooms().then(() => {
    const pending = sessionStorage.getItem(INVITE);
    sessionStorage.removeItem(INVITE);
    if (pending && !location.hash.startsWith('#/invite/')) location.hash = pending;
    route();
  });
  // Presence of the open room's members (the room list needs no polling: events).
  setInterval(() => { if (openId != null && document.visibilityState === 'visible') chat.refreshMembers(); }, 15000);
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && openId != null) markRead(openId);
});

const flash = sessionStorage.getItem(FLASH);
sessionStorage.removeItem(FLASH);
if (flash) setCondition('auth', flash, 'SESSION_ENDED');
if (session.token()) start();
else {
  $('auth-view').hidden = false;
  // An invite link opened signed out: remembered until the user is in.
  if (location.hash.startsWith('#/invite/')) {
    sessionStorage.setItem(INVITE, location.hash);
    $('invite-note').hidden = false;
  }
}
