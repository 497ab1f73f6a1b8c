// The HTTP matrix's Node column (run by tests/integration/http_matrix.py): Node's own
// fetch (undici), which never waits for `100-continue`, against a node.
//   big:    POST /api/auth/login with a 5 MiB body: the 413 must arrive as a response,
//           not as a reset (EPIPE/ECONNRESET) while the body is still being sent;
//   login:  a normal POST /api/auth/login: 200 with an access token;
//   rooms:  GET /api/rooms with that token: 200, a JSON list.
// No packages: Node 20's built-in fetch. Prints one JSON line.
//
// usage: node fetch.mjs <node-http-url> <email> <password>
const [base, email, password] = process.argv.slice(2);
const out = {};

async function attempt(name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    const c = e.cause || e;
    out[name] = { error: `${c.code || c.name}: ${c.message}` };
  }
}

const json = { 'content-type': 'application/json' };
await attempt('big', async () => {
  const body = '{"email":"' + 'x'.repeat(5 * 1024 * 1024) + '","password":"p"}';
  const r = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: json, body });
  return { status: r.status, statusText: r.statusText, body: await r.text() };
});
let token = null;
await attempt('login', async () => {
  const r = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: json, body: JSON.stringify({ email, password }) });
  const b = await r.json();
  token = b.accessToken;
  return { status: r.status, statusText: r.statusText, hasToken: typeof token === 'string' };
});
await attempt('rooms', async () => {
  const r = await fetch(`${base}/api/rooms`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, statusText: r.statusText, isList: Array.isArray(await r.json()) };
});
console.log(JSON.stringify(out));
