-- Warehouse semantics: snapshots, the sync log, append-only music tables, dedupe of plays,
-- latest-state views and the indexes that make them cheap.

-- Where the schema document leaves a fact nowhere to live.
ALTER TABLE user_playlists ADD COLUMN snapshot_id text;  -- provider's playlist version
ALTER TABLE user_playlist_tracks
    ADD COLUMN item_type text NOT NULL DEFAULT 'track'
    CHECK (item_type IN ('track', 'episode', 'local'));

-- The sync log: one row for every endpoint check, successful or not.
CREATE TABLE sync_log (
    id bigserial PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    provider provider NOT NULL,
    endpoint text NOT NULL,
    started_at timestamp NOT NULL,
    finished_at timestamp NOT NULL,
    status text NOT NULL CHECK (status IN ('success', 'failed', 'needs_reauth', 'skipped')),
    requests integer NOT NULL DEFAULT 0,
    rows_appended integer NOT NULL DEFAULT 0,
    changed boolean NOT NULL DEFAULT false,
    error text,
    details jsonb,
    run_id text
);
CREATE INDEX idx_sync_log_user_provider_endpoint ON sync_log(user_id, provider, endpoint, finished_at DESC);
CREATE INDEX idx_sync_log_finished_at ON sync_log(finished_at DESC);

-- One row per stored snapshot of one scope. A snapshot with zero rows still has its row here,
-- so an emptied list is a current state and not "whatever was stored last".
CREATE TABLE snapshots (
    id bigserial PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    provider provider NOT NULL,
    table_name text NOT NULL,
    scope text NOT NULL,
    fetched_at timestamp NOT NULL,
    row_count integer NOT NULL,
    content_hash text NOT NULL,
    version text,
    sync_log_id bigint REFERENCES sync_log(id),
    UNIQUE (user_id, provider, table_name, scope, fetched_at)
);
CREATE INDEX idx_snapshots_latest ON snapshots(user_id, provider, table_name, scope, fetched_at DESC);

-- Append-only, enforced by the database.
CREATE FUNCTION blendify_reject_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Blendify keeps music history forever; append a new snapshot instead.';
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['user_top_tracks', 'user_top_artists', 'user_recently_played',
                             'user_playlists', 'user_playlist_tracks', 'user_saved_tracks',
                             'user_saved_albums', 'user_followed_artists', 'snapshots', 'sync_log']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION blendify_reject_mutation()',
                       t || '_append_only', t);
    END LOOP;
END $$;

-- A play is stored once, however often it is fetched.
CREATE UNIQUE INDEX idx_user_recently_played_dedupe
    ON user_recently_played(user_id, provider, played_at, track_id);

-- Indexes that find one snapshot's rows.
CREATE INDEX idx_user_top_tracks_snapshot ON user_top_tracks(user_id, provider, time_range, fetched_at);
CREATE INDEX idx_user_top_artists_snapshot ON user_top_artists(user_id, provider, time_range, fetched_at);
CREATE INDEX idx_user_playlists_snapshot ON user_playlists(user_id, provider, fetched_at);
CREATE INDEX idx_user_playlist_tracks_snapshot ON user_playlist_tracks(user_id, provider, playlist_id, fetched_at);
CREATE INDEX idx_user_saved_tracks_snapshot ON user_saved_tracks(user_id, provider, fetched_at);
CREATE INDEX idx_user_saved_albums_snapshot ON user_saved_albums(user_id, provider, fetched_at);
CREATE INDEX idx_user_followed_artists_snapshot ON user_followed_artists(user_id, provider, fetched_at);
CREATE INDEX idx_user_recently_played_user ON user_recently_played(user_id, played_at DESC);
CREATE INDEX idx_user_top_tracks_track ON user_top_tracks(track_id);

-- Current state: the latest snapshot of every scope.
CREATE VIEW latest_snapshots AS
SELECT DISTINCT ON (user_id, provider, table_name, scope)
       user_id, provider, table_name, scope, fetched_at, row_count, version
FROM snapshots
ORDER BY user_id, provider, table_name, scope, fetched_at DESC;

CREATE VIEW latest_user_top_tracks AS
SELECT t.* FROM user_top_tracks t
JOIN latest_snapshots s ON s.table_name = 'user_top_tracks' AND s.user_id = t.user_id
 AND s.provider = t.provider AND s.scope = t.time_range::text AND s.fetched_at = t.fetched_at;

CREATE VIEW latest_user_top_artists AS
SELECT t.* FROM user_top_artists t
JOIN latest_snapshots s ON s.table_name = 'user_top_artists' AND s.user_id = t.user_id
 AND s.provider = t.provider AND s.scope = t.time_range::text AND s.fetched_at = t.fetched_at;

CREATE VIEW latest_user_playlists AS
SELECT t.* FROM user_playlists t
JOIN latest_snapshots s ON s.table_name = 'user_playlists' AND s.user_id = t.user_id
 AND s.provider = t.provider AND s.scope = '' AND s.fetched_at = t.fetched_at;

CREATE VIEW latest_user_playlist_tracks AS
SELECT t.* FROM user_playlist_tracks t
JOIN latest_snapshots s ON s.table_name = 'user_playlist_tracks' AND s.user_id = t.user_id
 AND s.provider = t.provider AND s.scope = t.playlist_id AND s.fetched_at = t.fetched_at
WHERE EXISTS (SELECT 1 FROM latest_user_playlists p
              WHERE p.user_id = t.user_id AND p.provider = t.provider AND p.playlist_id = t.playlist_id);

CREATE VIEW latest_user_saved_tracks AS
SELECT t.* FROM user_saved_tracks t
JOIN latest_snapshots s ON s.table_name = 'user_saved_tracks' AND s.user_id = t.user_id
 AND s.provider = t.provider AND s.scope = '' AND s.fetched_at = t.fetched_at;

CREATE VIEW latest_user_saved_albums AS
SELECT t.* FROM user_saved_albums t
JOIN latest_snapshots s ON s.table_name = 'user_saved_albums' AND s.user_id = t.user_id
 AND s.provider = t.provider AND s.scope = '' AND s.fetched_at = t.fetched_at;

CREATE VIEW latest_user_followed_artists AS
SELECT t.* FROM user_followed_artists t
JOIN latest_snapshots s ON s.table_name = 'user_followed_artists' AND s.user_id = t.user_id
 AND s.provider = t.provider AND s.scope = '' AND s.fetched_at = t.fetched_at;

-- Freshness for operators and the web app: the last check of every (user, provider, endpoint).
CREATE VIEW latest_sync_status AS
SELECT DISTINCT ON (user_id, provider, endpoint)
       user_id, provider, endpoint, finished_at, status, changed, rows_appended, error
FROM sync_log
ORDER BY user_id, provider, endpoint, finished_at DESC;
