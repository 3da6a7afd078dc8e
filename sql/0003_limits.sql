-- Per-user quota: what each user stores, kept in step by the statements
-- that insert and delete files (postgres.CreateFile, DeleteFile), so the
-- quota check is one conditional UPDATE of the user's row, which also
-- serializes concurrent uploads of that user.
ALTER TABLE users
    ADD COLUMN used_bytes bigint NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
    ADD COLUMN used_files bigint NOT NULL DEFAULT 0 CHECK (used_files >= 0);

UPDATE users u SET used_bytes = t.bytes, used_files = t.n
    FROM (SELECT owner_id, sum(size) AS bytes, count(*) AS n FROM files GROUP BY owner_id) t
    WHERE u.id = t.owner_id;

-- A copy of the owner's is_public on each file (postgres.CreateFile and
-- UpdateUser keep it in step), so the home page reads public files from
-- one partial index in list order instead of walking every file to find
-- the visible ones. Access decisions never read it: authz asks users.
ALTER TABLE files ADD COLUMN owner_public boolean NOT NULL DEFAULT false;

UPDATE files f SET owner_public = true FROM users u WHERE u.id = f.owner_id AND u.is_public;

-- Lists are newest first and paged by (created_at, id): the home page
-- merges the newest public files (this index) with the viewer's newest
-- own (files_owner_created_idx); a user's page uses the latter alone.
CREATE INDEX files_public_created_idx ON files (created_at DESC, id DESC) WHERE owner_public;
