-- Portal logins. A portal user is a Contact that Connect syncs; its login identity lives here, in the
-- app's schema, never in Connect's tables (a mapping reload would drop it, and Salesforce must never
-- receive a password hash).

CREATE TABLE {app_schema}.portal_users (
    id                  bigserial PRIMARY KEY,
    -- stored lowercased: one login per address, whatever case it is typed in
    email               text NOT NULL CHECK (email = lower(email)),
    -- the Contact: by Salesforce Id once it has one; by its External_ID__c while it exists only in Postgres
    contact_sfid        varchar(18),
    contact_external_id varchar(36),
    -- argon2id, NULL until the invitation is accepted
    password_hash       text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_login_at       timestamptz,
    CHECK (contact_sfid IS NOT NULL OR contact_external_id IS NOT NULL)
);
CREATE UNIQUE INDEX portal_users_email ON {app_schema}.portal_users (email);
CREATE UNIQUE INDEX portal_users_contact_sfid ON {app_schema}.portal_users (contact_sfid);
CREATE UNIQUE INDEX portal_users_contact_external_id ON {app_schema}.portal_users (contact_external_id);

-- Invitation, password-reset and API tokens. Only a SHA-256 of each token is kept: the tokens are
-- 256-bit random strings, so a fast hash is enough (argon2 is for guessable passwords), and a leaked
-- table grants nothing.
CREATE TABLE {app_schema}.portal_tokens (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES {app_schema}.portal_users (id) ON DELETE CASCADE,
    purpose      text NOT NULL CHECK (purpose IN ('invitation', 'reset', 'api')),
    token_hash   bytea NOT NULL UNIQUE,
    name         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- NULL for API tokens, which last until revoked
    expires_at   timestamptz,
    used_at      timestamptz,
    last_used_at timestamptz
);
CREATE INDEX portal_tokens_user ON {app_schema}.portal_tokens (user_id, purpose);
