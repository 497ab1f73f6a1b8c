// The REST API of docs/PROTOCOL.md. Every call resolves with the parsed JSON or
// rejects with an ApiError carrying the server's {error:{code,message}}. A 401 on a
// call made with a token asks the session for a fresh token once and retries; the
// session logs out when it cannot get one. Owns nothing but the fetches in flight.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function createApi(getToken, renew) {
  async function raw(method, path, body, token) {
    const headers = {};
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(0, 'NETWORK', 'the server cannot be reached');
    }
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
    if (!res.ok) {
      const err = json && json.error ? json.error : { code: 'HTTP_' + res.status, message: res.statusText };
      throw new ApiError(res.status, err.code, err.message);
    }
    return json;
  }

  async function call(method, path, body) {
    const token = getToken();
    try {
      return await raw(method, path, body, token);
    } catch (e) {
      if (e.status !== 401 || !token) throw e;
      const fresh = await renew(token); // rejects (and logs out) when the session is over
      return raw(method, path, body, fresh);
    }
  }

  const q = (s) => encodeURIComponent(s);
  return {
    signup: (email, password, nickname) => raw('POST', '/api/auth/signup', { email, password, nickname }),
    login: (email, password) => raw('POST', '/api/auth/login', { email, password }),
    refresh: (refreshToken) => raw('POST', '/api/auth/refresh', { refreshToken }),
    logout: (refreshToken) => raw('POST', '/api/auth/logout', { refreshToken }),
    rooms: () => call('GET', '/api/rooms'),
    room: (id) => call('GET', `/api/rooms/${id}`),
    direct: (targetUserId) => call('POST', '/api/rooms/direct', { targetUserId }),
    group: (name, memberIds, visibility = 'private') =>
      call('POST', '/api/rooms/group', { name, memberIds, visibility }),
    join: (id) => call('POST', `/api/rooms/${id}/join`),
    joinInvite: (inviteToken) => call('POST', '/api/rooms/join', { inviteToken }),
    invite: (id) => call('POST', `/api/rooms/${id}/invites`, {}),
    addMembers: (id, userIds) => call('POST', `/api/rooms/${id}/members`, { userIds }),
    leave: (id) => call('POST', `/api/rooms/${id}/leave`),
    users: (text) => call('GET', `/api/users?q=${q(text)}&size=10`),
    publicRooms: (text) => call('GET', `/api/rooms/public?size=20` + (text ? `&q=${q(text)}` : '')),
    history: (id, cursor, size = 50) =>
      call('GET', `/api/rooms/${id}/messages?size=${size}` + (cursor != null ? `&cursor=${cursor}` : '')),
    read: (id) => call('POST', `/api/rooms/${id}/read`, {}),
  };
}
