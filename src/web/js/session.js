// The signed-in session: access token, refresh token and user, kept in localStorage so
// every tab of the origin shares one login. The access token is renewed at 80% of its
// lifetime (from the JWT's iat/exp) and after a 401; a refresh token works once, so
// tabs take turns (Web Locks when the browser has them) and each tab first adopts a
// token another tab already stored. Owns the stored session and one timer.
const STORE = 'chat-node.session';

function claims(jwt) {
  try {
    const b = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(b));
  } catch (e) {
    return {};
  }
}

export function createSession({ refreshCall, onToken, onEnded, onOtherTabLogout }) {
  let s = read();
  let timer = null;
  let inflight = null;

  function read() {
    try { return JSON.parse(localStorage.getItem(STORE) || 'null'); } catch (e) { return null; }
  }

  function save(next) {
    s = next;
    localStorage.setItem(STORE, JSON.stringify(s));
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    if (!s || !s.token || !s.refreshToken) return;
    const c = claims(s.token);
    if (!c.exp) return;
    const iat = c.iat || c.exp - 3600;
    const at = (iat + 0.8 * (c.exp - iat)) * 1000;
    timer = setTimeout(() => renew(s.token).catch(() => {}), Math.max(1000, at - Date.now()));
  }

  // Resolves with a token newer than `stale`; rejects when the session is over (after
  // onEnded) or the server cannot be reached (the timer tries again).
  function renew(stale) {
    if (inflight) return inflight;
    const work = async () => {
      const cur = read();
      if (!cur) throw new Error('signed out');
      if (cur.token !== stale) { // another tab was faster
        s = cur;
        schedule();
        onToken(s.token);
        return s.token;
      }
      let r;
      try {
        r = await refreshCall(cur.refreshToken);
      } catch (e) {
        const again = read();
        if (again && again.token !== stale) { // a tab spent it just before us
          s = again;
          schedule();
          onToken(s.token);
          return s.token;
        }
        if (e.status === 401 || e.status === 400) {
          onEnded('Your session has ended: log in again.');
        } else {
          clearTimeout(timer);
          timer = setTimeout(() => renew(stale).catch(() => {}), 5000);
        }
        throw e;
      }
      save({ token: r.accessToken, refreshToken: r.refreshToken, user: r.user || cur.user });
      onToken(s.token);
      return s.token;
    };
    inflight = (navigator.locks ? navigator.locks.request(STORE, work) : work())
      .finally(() => { inflight = null; });
    return inflight;
  }

  // Another tab refreshed (adopt its token) or logged out (follow it).
  window.addEventListener('storage', (ev) => {
    if (ev.key !== STORE || !s) return;
    const next = read();
    if (!next) { onOtherTabLogout(); return; }
    if (next.token !== s.token) {
      s = next;
      schedule();
      onToken(s.token);
    }
  });

  schedule();
  return {
    get: () => s,
    token: () => s && s.token,
    user: () => s && s.user,
    renew,
    start(r) { save({ token: r.accessToken, refreshToken: r.refreshToken, user: r.user }); },
    clear() {
      clearTimeout(timer);
      const old = s;
      s = null;
      localStorage.removeItem(STORE);
      return old;
    },
  };
}
