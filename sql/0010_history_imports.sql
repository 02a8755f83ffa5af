-- Lifetime-history imports (issue 15): one row per export file imported for a user, committed in
-- the same transaction as the file's plays. Its hash makes a second import of the same file a
-- no-op that says when the file was imported, and its counts say what the import did (plays
-- appended, already stored from the API or an earlier import, filtered by reason, identified).
CREATE TABLE history_imports (
    id bigserial PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    provider provider NOT NULL,
    file_name text NOT NULL,              -- the path inside the export, never a local path
    file_sha256 text NOT NULL,
    schema_version text NOT NULL,         -- spotify-endsong, spotify-extended-2024, apple-play-activity, ...
    records integer NOT NULL,
    plays integer NOT NULL,               -- records that are plays (after the filters)
    appended integer NOT NULL,            -- plays stored by this import
    duplicates_api integer NOT NULL,      -- plays already stored from the API (within the tolerance)
    duplicates_stored integer NOT NULL,   -- plays already stored by an import, or repeated in the file
    filtered jsonb NOT NULL,              -- {reason: count}
    enrichment jsonb NOT NULL,            -- {isrc_from: count} and unidentified
    imported_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    UNIQUE (user_id, provider, file_sha256)
);

CREATE TRIGGER history_imports_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON history_imports
    FOR EACH STATEMENT EXECUTE FUNCTION blendify_reject_mutation();

-- An import gives its plays the ISRC the warehouse already holds for the same provider track id;
-- these find it without reading every stored row (partial: rows without an ISRC, most imported
-- plays among them, cost the index nothing).
CREATE INDEX idx_user_recently_played_isrc ON user_recently_played(track_id) WHERE isrc IS NOT NULL;
CREATE INDEX idx_user_saved_tracks_isrc ON user_saved_tracks(track_id) WHERE isrc IS NOT NULL;
CREATE INDEX idx_user_playlist_tracks_isrc ON user_playlist_tracks(track_id) WHERE isrc IS NOT NULL;
