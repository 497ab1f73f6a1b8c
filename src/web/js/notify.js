// Unread messages outside the reader's view: "(3) chat-node" in the tab title, and a
// desktop notification when the user turned them on with the "Enable notifications"
// button (the browser asks only then, never on load). The title counts the room list's
// unread badges (watched on #rooms, so it follows every render) plus the messages of
// the open room that came while the tab was hidden. Owns its button and counter.
import { $, h } from './dom.js';

const BASE = document.title || 'chat-node';
const ON = 'chat-node.notify'; // "1": the user turned notifications on in this browser

export function createNotify({ unreadInList, onClick }) {
  let hiddenOpen = 0; // messages of the open room that came while the tab was hidden
  const supported = typeof window.Notification === 'function';

  function update() {
    const n = unreadInList() + hiddenOpen;
    const want = n > 0 ? `(${n}) ${BASE}` : BASE;
    if (document.title !== want) document.title = want;
  }
  new MutationObserver(update).observe($('rooms'), { childList: true, subtree: true, characterData: true });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') hiddenOpen = 0;
    update();
  });

  const enabled = () => supported && Notification.permission === 'granted' && localStorage.getItem(ON) === '1';
  const button = h('button', { type: 'button', id: 'notify-on', class: 'notify-on' });
  function renderButton() {
    button.hidden = !supported || Notification.permission === 'denied';
    button.textContent = enabled() ? 'Turn off notifications' : 'Enable notifications';
    button.setAttribute('aria-pressed', enabled() ? 'true' : 'false');
  }
  button.addEventListener('click', async () => {
    if (enabled()) localStorage.removeItem(ON);
    else if ((await Notification.requestPermission()) === 'granted') localStorage.setItem(ON, '1');
    renderButton();
  });
  renderButton();

  return {
    button,
    update,
    // A live message from someone else; inView: its room is open and the tab visible.
    message(m, roomTitle, isOpenRoom) {
      const hidden = document.visibilityState !== 'visible';
      if (isOpenRoom && !hidden) return;
      if (isOpenRoom) hiddenOpen++;
      update();
      if (!enabled()) return;
      try {
        const n = new Notification(roomTitle === m.senderNickname ? m.senderNickname : `${m.senderNickname} in ${roomTitle}`, {
          body: String(m.content).slice(0, 200), tag: `room-${m.roomId}`,
        });
        n.onclick = () => { window.focus(); onClick(m.roomId); n.close(); };
      } catch (e) { /* some browsers allow notifications from a service worker only */ }
    },
  };
}
