-- Sessions that end on the server (docs/portal.md, "Sessions"). The signed session cookie carries
-- the login's session_version from when it was issued; each request compares it with this column
-- (one primary-key lookup). Logging out, "log out everywhere" and setting a password by email add
-- one, so every cookie issued before, copies included, is refused from then on.
ALTER TABLE {app_schema}.portal_users ADD COLUMN session_version integer NOT NULL DEFAULT 1;
