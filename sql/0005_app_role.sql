-- Two roles (issue 11): the owner, who runs `blendify db upgrade`, keeps every right over the
-- schema; the app connects as a member of blendify_app, which may read everything, append music
-- data and change only what must change. The append-only triggers then bind the app too: it cannot
-- set session_replication_role, disable a trigger, drop or truncate a table, or update or delete
-- music rows.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'blendify_app') THEN
        CREATE ROLE blendify_app NOLOGIN;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN
        NULL;  -- an upgrade of another database on this server created it at the same moment
    WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'the role blendify_app does not exist and this role may not create it'
            USING HINT = 'as a superuser: CREATE ROLE blendify_app NOLOGIN; then run blendify db upgrade again';
END $$;

GRANT USAGE ON SCHEMA public TO blendify_app;

-- Read everything (tables and views); the migration ledger is read-only.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO blendify_app;

-- Append to every table (music data, snapshots, the sync log, users, connections, blends).
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'public' AND tablename <> 'schema_migrations'
    LOOP
        EXECUTE format('GRANT INSERT ON %I TO blendify_app', t);
    END LOOP;
END $$;

-- Ids and the connection change sequence.
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO blendify_app;

-- What must change: tokens on refresh and re-authorisation, the connection's status, and a blend's
-- track count when a generation is appended. Nothing else is ever updated, and nothing deleted.
GRANT UPDATE (provider_user_id, access_token_encrypted, refresh_token_encrypted, token_expires_at,
              status, status_reason, authorized_at)
    ON provider_connections TO blendify_app;
GRANT UPDATE (total_tracks, updated_at) ON blends TO blendify_app;

-- Tables and sequences later migrations create: read and append by default.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO blendify_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO blendify_app;
