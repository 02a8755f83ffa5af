-- Provider versions that move without the content moving.
--
-- A renamed playlist gets a new versionHash (Apple) or snapshot_id (Spotify) while its tracks stay
-- the same. The writer appends no music rows for it (the content hash is unchanged) but records the
-- new version as a snapshots row that points at the rows already stored: `content_fetched_at` is
-- the fetched_at of those rows. NULL means "this snapshot's own rows" (every row written before
-- this migration, and every snapshot whose content changed). Without it the new version was never
-- stored, and the playlist was re-read on every later sync.
ALTER TABLE snapshots
    ADD COLUMN content_fetched_at timestamp
    CHECK (content_fetched_at IS NULL OR content_fetched_at < fetched_at);

-- Current state: the latest snapshot of every scope, and where its rows are.
CREATE OR REPLACE VIEW latest_snapshots AS
SELECT DISTINCT ON (user_id, provider, table_name, scope)
       user_id, provider, table_name, scope, fetched_at, row_count, version,
       coalesce(content_fetched_at, fetched_at) AS content_fetched_at
FROM snapshots
ORDER BY user_id, provider, table_name, scope, fetched_at DESC;

CREATE OR REPLACE VIEW latest_user_top_tracks AS
SELECT t.* FROM user_top_tracks t
JOIN latest_snapshots s ON s.table_name = 'user_top_tracks' AND s.user_id = t.user_id
 AND s.provider = t.provider AND s.scope = t.time_range::text AND s.content_fetched_at = t.fetched_at;

CREATE OR REPLACE VIEW latest_user_top_artists AS
SELECT t.* FROM user_top_artists t
JOIN latest_snapshots s ON s.table_name = 'user_top_artists' AND s.user_id = t.user_id
 AND s.provider = t.provider AND s.scope = t.time_range::text AND s.content_fetched_at = t.fetched_at;

CREATE OR REPLACE VIEW latest_user_playlists AS
SELECT t.* FROM user_playlists t
JOIN latest_snapshots s ON s.table_name = 'user_playlists' AND s.user_id = t.user_id
 AND s.provider = t.provider AND s.scope = '' AND s.content_fetched_at = t.fetched_at;

CREATE OR REPLACE VIEW latest_user_playlist_tracks AS
SELECT t.* FROM user_playlist_tracks t
JOIN latest_snapshots s ON s.table_name = 'user_playlist_tracks' AND s.user_id = t.user_id
 AND s.provider = t.provider AND s.scope = t.playlist_id AND s.content_fetched_at = t.fetched_at
WHERE EXISTS (SELECT 1 FROM latest_user_playlists p
              WHERE p.user_id = t.user_id AND p.provider = t.provider AND p.playlist_id = t.playlist_id);

CREATE OR REPLACE VIEW latest_user_saved_tracks AS
SELECT t.* FROM user_saved_tracks t
JOIN latest_snapshots s ON s.table_name = 'user_saved_tracks' AND s.user_id = t.user_id
 AND s.provider = t.provider AND s.scope = '' AND s.content_fetched_at = t.fetched_at;

CREATE OR REPLACE VIEW latest_user_saved_albums AS
SELECT t.* FROM user_saved_albums t
JOIN latest_snapshots s ON s.table_name = 'user_saved_albums' AND s.user_id = t.user_id
 AND s.provider = t.provider AND s.scope = '' AND s.content_fetched_at = t.fetched_at;

CREATE OR REPLACE VIEW latest_user_followed_artists AS
SELECT t.* FROM user_followed_artists t
JOIN latest_snapshots s ON s.table_name = 'user_followed_artists' AND s.user_id = t.user_id
 AND s.provider = t.provider AND s.scope = '' AND s.content_fetched_at = t.fetched_at;
