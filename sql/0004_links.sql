-- Share links: one file given to people without an account
-- (docs/interface.md#share-links). The URL's token is a MAC over the id and
-- the nonce under a key derived from FILEGATE_SESSION_KEYS, which this
-- database never holds: a copy of this table opens no link. The CHECK on
-- downloads is the last line behind authz's conditional UPDATE: the
-- count can never pass the limit.
CREATE TABLE links (
    id            bigserial PRIMARY KEY,
    file_id       bigint NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    created_by    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    nonce         bytea NOT NULL CHECK (length(nonce) = 8),
    expires_at    timestamptz NOT NULL,
    max_downloads bigint CHECK (max_downloads >= 1),
    downloads     bigint NOT NULL DEFAULT 0
                  CHECK (downloads >= 0 AND (max_downloads IS NULL OR downloads <= max_downloads)),
    password_hash bytea, -- bcrypt; NULL without a password
    revoked_at    timestamptz, -- NULL while not revoked
    created_at    timestamptz NOT NULL
);

-- Deleting a file finds its links; the links page lists a user's, newest first.
CREATE INDEX links_file_idx ON links (file_id);
CREATE INDEX links_creator_idx ON links (created_by, created_at DESC, id DESC);

-- The client addresses that started a counted download of a limited link,
-- and until when their later ranges (parallel connections, a resumed
-- transfer) are free: policy.LinkGrant.
CREATE TABLE link_grants (
    link_id    bigint NOT NULL REFERENCES links (id) ON DELETE CASCADE,
    client     inet NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (link_id, client)
);
