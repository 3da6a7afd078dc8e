-- One row per login. The cookie carries a random token; only its SHA-256
-- is kept here, so a copy of this table cannot be replayed as cookies.
-- id is the public name of a session (the account page lists it).
CREATE TABLE sessions (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    user_agent   text NOT NULL DEFAULT '' CHECK (octet_length(user_agent) <= 255),
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz -- NULL while the session is live
);

-- The account page lists a user's sessions; revocation finds them all.
CREATE INDEX sessions_user_idx ON sessions (user_id);
-- The periodic cleanup deletes expired sessions.
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
