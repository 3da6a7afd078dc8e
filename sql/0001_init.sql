-- Users log in to the uploader; is_public shares all of a user's files at once.
CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username <> ''),
    slug          text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9._-]*$'),
    display_name  text NOT NULL,
    password_hash bytea NOT NULL,
    is_public     boolean NOT NULL DEFAULT false,
    is_staff      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per stored file; its bytes live at PRIVATE_ROOT/owner_id/stored_name.
CREATE TABLE files (
    id           bigserial PRIMARY KEY,
    owner_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stored_name  text NOT NULL CHECK (stored_name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$'),
    display_name text NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL CHECK (size > 0),
    sha256       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner_id, stored_name)
);

-- Lists are newest first, per owner or across public owners.
CREATE INDEX files_owner_created_idx ON files (owner_id, created_at DESC, id DESC);
