// Dates as a reader wants them: day separators ("Today", "Yesterday", a date), the
// full date and time for a message's tooltip, and "last seen …" for presence. Pure
// functions of an ISO time and "now"; nothing kept.
const dayStart = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
const DAY = 86400000;

function parse(iso) {
  if (!iso) return null; // new Date(null) would be 1970
  const d = new Date(iso);
  return isNaN(d) ? null : d;
}

// Whole calendar days between d and now (0 = today, 1 = yesterday); rounding absorbs
// the hour a daylight saving change adds or removes.
function daysAgo(d, now) {
  return Math.round((dayStart(now) - dayStart(d)) / DAY);
}

// A stable key of the local calendar day of iso ("" when iso is not a date).
export function dayKey(iso) {
  const d = parse(iso);
  return d ? `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}` : '';
}

export function hhmm(d) {
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// "Today", "Yesterday", "Monday 30 November" (this year) or "30 November 2025".
export function dayLabel(iso, now = new Date()) {
  const d = parse(iso);
  if (!d) return '';
  const n = daysAgo(d, now);
  if (n === 0) return 'Today';
  if (n === 1) return 'Yesterday';
  if (n > 1 && n < 7) return d.toLocaleDateString([], { weekday: 'long', day: 'numeric', month: 'long' });
  return d.toLocaleDateString([], { day: 'numeric', month: 'long', year: 'numeric' });
}

// The full date and time, for a title attribute.
export function fullDate(iso) {
  const d = parse(iso);
  return d ? d.toLocaleString([], { dateStyle: 'full', timeStyle: 'short' }) : '';
}

// "last seen just now / 5 minutes ago / today at 14:02 / yesterday at 14:02 / on 3 May at 14:02".
export function lastSeen(iso, now = new Date()) {
  const d = parse(iso);
  if (!d) return 'offline';
  const min = Math.floor((now - d) / 60000);
  if (min < 1) return 'last seen just now';
  if (min === 1) return 'last seen a minute ago';
  if (min < 60) return `last seen ${min} minutes ago`;
  const n = daysAgo(d, now);
  if (n === 0) return `last seen today at ${hhmm(d)}`;
  if (n === 1) return `last seen yesterday at ${hhmm(d)}`;
  const sameYear = d.getFullYear() === now.getFullYear();
  return `last seen on ${d.toLocaleDateString([], sameYear ? { day: 'numeric', month: 'long' }
    : { day: 'numeric', month: 'long', year: 'numeric' })} at ${hhmm(d)}`;
}

// Two messages belong to one group (name and time shown once) when one sender wrote
// them within `gapMs` of each other on the same day.
export function sameGroup(a, b, gapMs = 5 * 60000) {
  if (!a || !b || a.senderId !== b.senderId) return false;
  const da = parse(a.createdAt);
  const db = parse(b.createdAt);
  return !!da && !!db && dayKey(a.createdAt) === dayKey(b.createdAt) && Math.abs(db - da) <= gapMs;
}
