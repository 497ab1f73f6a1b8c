-- 0002_presence: the presence sweep pages through ONLINE users (presence_online_page).
-- A partial index: a handful of users is online at a time, most are offline, so the
-- sweep costs what the online users cost, whatever the size of the users table.
CREATE INDEX users_online_idx ON users (id) WHERE status = 'ONLINE';
