// The REST API of docs/PROTOCOL.md. Every call resolves with the parsed JSON or
// rejects with an ApiError carrying the server's {error:{code,message}}.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function createApi(getToken, onUnauthorized) {
  async function call(method, path, body) {
    const headers = {};
    const token = getToken();
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
      if (res.status === 401 && token) onUnauthorized();
      throw new ApiError(res.status, err.code, err.message);
    }
    return json;
  }
  return {
    signup: (email, password, nickname) => call('POST', '/api/auth/signup', { email, password, nickname }),
    login: (email, password) => call('POST', '/api/auth/login', { email, password }),
    rooms: () => call('GET', '/api/rooms'),
    room: (id) => call('GET', `/api/rooms/${id}`),
    direct: (targetUserId) => call('POST', '/api/rooms/direct', { targetUserId }),
    group: (name, memberIds, visibility = 'private') =>
      call('POST', '/api/rooms/group', { name, memberIds, visibility }),
    join: (id) => call('POST', `/api/rooms/${id}/join`),
    history: (id, cursor, size = 50) =>
      call('GET', `/api/rooms/${id}/messages?size=${size}` + (cursor != null ? `&cursor=${cursor}` : '')),
    read: (id) => call('POST', `/api/rooms/${id}/read`, {}),
  };
}
