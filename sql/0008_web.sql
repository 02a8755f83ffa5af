-- The listeners' web app (issue 13): re-sync requests, sign-in throttling, blend invites, and the
-- rights the app needs to let people join and leave blends. Timestamps are UTC without a zone, as
-- everywhere else in the warehouse.

-- "Re-sync now": the user's request moves the connection's change_seq, so the connection sensor
-- (which reads provider_connections by change_seq) sees it again and requests one sync run, exactly
-- as it does for a new connection. Only an active connection is re-synced.
ALTER TABLE provider_connections ADD COLUMN resync_requested_at timestamp;

CREATE OR REPLACE FUNCTION provider_connections_track_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT'
       OR NEW.authorized_at IS DISTINCT FROM OLD.authorized_at
       OR (NEW.status = 'active' AND OLD.status <> 'active')
       OR (NEW.status = 'active' AND NEW.resync_requested_at IS DISTINCT FROM OLD.resync_requested_at) THEN
        NEW.change_seq := nextval('provider_connections_change_seq');
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.status_changed_at := now();
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;

GRANT UPDATE (resync_requested_at) ON provider_connections TO blendify_app;

-- "Continue with Spotify" finds the connection of a returning listener by their Spotify account id.
CREATE INDEX idx_provider_connections_provider_account ON provider_connections(provider, provider_user_id);

-- Every password sign-in attempt, so ten wrong passwords are throttled across every web worker
-- process. The address is stored as a SHA-256 (an attempt may name an address nobody registered).
CREATE TABLE login_attempts (
    id bigserial PRIMARY KEY,
    account_key text NOT NULL,
    client text,
    succeeded boolean NOT NULL,
    attempted_at timestamp NOT NULL DEFAULT timezone('UTC', clock_timestamp())
);
CREATE INDEX idx_login_attempts_account ON login_attempts(account_key, attempted_at DESC);
CREATE INDEX idx_login_attempts_client ON login_attempts(client, attempted_at DESC) WHERE NOT succeeded;

-- Invite links: the token is shown once to the member who made it and stored only as a SHA-256;
-- it expires and admits at most max_uses people (a blend has at most 10 members).
CREATE TABLE blend_invites (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    blend_id uuid NOT NULL REFERENCES blends(id) ON DELETE CASCADE,
    token_sha256 text NOT NULL UNIQUE,
    created_by_user_id uuid NOT NULL REFERENCES users(id),
    created_at timestamp NOT NULL DEFAULT timezone('UTC', now()),
    expires_at timestamp NOT NULL,
    max_uses integer NOT NULL CHECK (max_uses BETWEEN 1 AND 9),
    uses integer NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    revoked_at timestamp
);
CREATE INDEX idx_blend_invites_blend ON blend_invites(blend_id, created_at DESC);

GRANT SELECT, INSERT ON login_attempts, blend_invites TO blendify_app;
GRANT UPDATE (uses, revoked_at) ON blend_invites TO blendify_app;
GRANT USAGE ON SEQUENCE login_attempts_id_seq TO blendify_app;

-- A member is in a blend once (two tabs joining at once store one row). Leaving deletes the
-- membership (past generations keep who put each track there); a member sets their own weight.
CREATE UNIQUE INDEX idx_blend_participants_blend_user ON blend_participants(blend_id, user_id);
CREATE INDEX idx_blend_participants_user ON blend_participants(user_id);
GRANT DELETE ON blend_participants TO blendify_app;
GRANT UPDATE (weight) ON blend_participants TO blendify_app;

-- Server-side sessions: the signed cookie names one row (by its id's SHA-256), and every request
-- checks it, so signing out revokes the session at once: a copied cookie no longer works.
CREATE TABLE web_sessions (
    id_sha256 text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at timestamp NOT NULL DEFAULT timezone('UTC', now()),
    expires_at timestamp NOT NULL,
    revoked_at timestamp
);
CREATE INDEX idx_web_sessions_user ON web_sessions(user_id) WHERE revoked_at IS NULL;
GRANT SELECT, INSERT ON web_sessions TO blendify_app;
GRANT UPDATE (revoked_at) ON web_sessions TO blendify_app;
