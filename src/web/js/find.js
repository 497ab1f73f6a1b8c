// Finding people and rooms, in dialogs: a direct chat with someone found by nickname,
// a new group with members found the same way, public groups to browse and join,
// inviting to the open group (add someone, or an invite link), and leaving it after a
// confirm. Searches are debounced and only the newest answer is shown. Owns the
// dialogs' DOM; tells main.js what happened through the callbacks.
import { $, h } from './dom.js';

function debounced(fn, ms) {
  let t = null;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

// A search box whose results are buttons: `search(text)` resolves with items,
// `render(item)` gives [label, button text, onclick].
function searchBox(input, list, { min, search, render, empty }) {
  let gen = 0;
  const run = debounced(async () => {
    const text = input.value.trim();
    const mine = ++gen;
    if (text.length < min) { list.replaceChildren(); return; }
    try {
      const items = await search(text);
      if (mine !== gen) return;
      list.replaceChildren(...(items.length ? items.map((it) => {
        const [label, action, onclick, disabled] = render(it);
        return h('li', null, h('span', { class: 'label' }, label),
          h('button', { type: 'button', onclick, disabled: disabled || null }, action));
      }) : [h('li', { class: 'muted' }, empty)]));
    } catch (e) {
      if (mine === gen) list.replaceChildren(h('li', { class: 'muted' }, e.message || 'Search failed'));
    }
  }, 250);
  input.addEventListener('input', run);
  return { run, reset() { input.value = ''; list.replaceChildren(); } };
}

export function createFind({ api, onError, onRoom, current, onLeft }) {
  const dialogs = ['people-dialog', 'group-dialog', 'public-dialog', 'invite-dialog', 'leave-dialog'];
  const openDialog = (id) => {
    const d = $(id);
    if (!d.open) d.showModal();
    const first = d.querySelector('input:not([readonly]), button');
    if (first) first.focus();
  };
  const close = (id) => { if ($(id).open) $(id).close(); };
  for (const id of dialogs) {
    $(id).addEventListener('click', (ev) => {
      if (ev.target.closest('[data-close]')) close(id);
    });
  }
  document.addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-dialog]');
    if (b) openDialog(b.dataset.dialog);
  });

  const userLabel = (u) => h('span', null, h('span', { class: 'dot', 'data-status': u.status, 'aria-hidden': 'true' }), u.nickname);
  const users = async (text) => (await api.users(text)).users;

  // --- a direct chat
  const people = searchBox($('people-q'), $('people-results'), {
    min: 2, search: users, empty: 'Nobody with that nickname.',
    render: (u) => [userLabel(u), 'Message', async () => {
      try {
        const room = await api.direct(u.id);
        close('people-dialog');
        people.reset();
        onRoom(room);
      } catch (e) { onError(e); }
    }],
  });

  // --- a new group
  const chosen = new Map(); // user id -> nickname
  function renderChosen() {
    $('group-chosen').replaceChildren(...[...chosen].map(([id, nick]) => h('li', null, nick,
      h('button', { type: 'button', 'aria-label': `Remove ${nick}`, onclick: () => { chosen.delete(id); renderChosen(); group.run(); } }, '×'))));
  }
  const group = searchBox($('group-q'), $('group-results'), {
    min: 2, search: users, empty: 'Nobody with that nickname.',
    render: (u) => [userLabel(u), chosen.has(u.id) ? 'Added' : 'Add', () => {
      chosen.set(u.id, u.nickname);
      renderChosen();
      group.reset();
      $('group-q').focus();
    }, chosen.has(u.id)],
  });
  $('group-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      const room = await api.group(String(f.get('name')), [...chosen.keys()],
        f.get('visibility') === 'public' ? 'public' : 'private');
      ev.target.reset();
      chosen.clear();
      renderChosen();
      group.reset();
      close('group-dialog');
      onRoom(room);
    } catch (e) { onError(e); }
  });

  // --- public groups
  const pub = searchBox($('public-q'), $('public-results'), {
    min: 0, empty: 'No public group has a name like that.',
    search: async (text) => (await api.publicRooms(text)).rooms,
    render: (r) => [`${r.name} (${r.memberCount} ${r.memberCount === 1 ? 'member' : 'members'})`,
      r.isMember ? 'Open' : 'Join', async () => {
        try {
          const room = r.isMember ? r : await api.join(r.id);
          close('public-dialog');
          pub.reset();
          onRoom(room);
        } catch (e) { onError(e); }
      }],
  });
  for (const b of document.querySelectorAll('button[data-dialog="public-dialog"]')) b.addEventListener('click', () => pub.run());

  // --- inviting to the open group
  const invite = searchBox($('invite-q'), $('invite-results'), {
    min: 2, search: users, empty: 'Nobody with that nickname.',
    render: (u) => [userLabel(u), 'Add', async (ev) => {
      const b = ev.target;
      try {
        await api.addMembers(current(), [u.id]);
        b.textContent = 'Added';
        b.disabled = true;
      } catch (e) { onError(e); }
    }],
  });
  $('invite-btn').addEventListener('click', () => {
    invite.reset();
    $('invite-link-box').hidden = true;
    $('invite-link').value = '';
    openDialog('invite-dialog');
  });
  $('invite-create').addEventListener('click', async () => {
    try {
      const inv = await api.invite(current());
      $('invite-link').value = `${location.origin}/#/invite/${inv.token}`;
      $('invite-link-box').hidden = false;
      $('invite-link').select();
    } catch (e) { onError(e); }
  });
  $('invite-copy').addEventListener('click', async () => {
    const input = $('invite-link');
    try {
      await navigator.clipboard.writeText(input.value);
    } catch (e) { // no clipboard API outside secure contexts: select it for Ctrl+C
      input.select();
      document.execCommand && document.execCommand('copy');
    }
    $('invite-copy').textContent = 'Copied';
    setTimeout(() => { $('invite-copy').textContent = 'Copy link'; }, 2000);
  });

  // --- leaving
  let leaving = null;
  $('leave-confirm').addEventListener('click', async () => {
    const id = leaving;
    try {
      await api.leave(id);
      close('leave-dialog');
      onLeft(id);
    } catch (e) { close('leave-dialog'); onError(e); }
  });

  return {
    // Asks before leaving the group `id` named `title`.
    confirmLeave(id, title) {
      leaving = id;
      $('leave-text').textContent = `You will no longer get the messages of "${title}". To come back, a member must add or invite you (or join it again if it is public).`;
      openDialog('leave-dialog');
      $('leave-dialog').querySelector('[data-close]').focus();
    },
  };
}
