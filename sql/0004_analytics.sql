-- Analytics: taste matches kept over time, and blend generations that are cheap to read.

-- One row per overlap computation: which users it covered, k, and the formula it used. The
-- latest run is the current state, so a user whose neighbours all vanished has none, rather
-- than whatever was stored last.
CREATE TABLE taste_match_runs (
    id bigserial PRIMARY KEY,
    computed_at timestamp NOT NULL UNIQUE,
    users integer NOT NULL,
    k integer NOT NULL CHECK (k > 0),
    pairs integer NOT NULL,
    formula text NOT NULL,
    details jsonb,
    run_id text
);

-- Each user's top-k most similar users at one computation (directed: A's list may hold B while
-- B's does not hold A; the score itself is symmetric). Shared items are capped lists; the counts
-- are exact.
CREATE TABLE user_taste_matches (
    id bigserial PRIMARY KEY,
    run_id bigint NOT NULL REFERENCES taste_match_runs(id),
    user_id uuid NOT NULL REFERENCES users(id),
    other_user_id uuid NOT NULL REFERENCES users(id),
    rank integer NOT NULL CHECK (rank >= 1),
    score real NOT NULL CHECK (score >= 0 AND score <= 100),
    track_points real NOT NULL,
    artist_points real NOT NULL,
    genre_points real NOT NULL,
    shared_track_count integer NOT NULL,
    shared_artist_count integer NOT NULL,
    shared_genre_count integer NOT NULL,
    shared_tracks jsonb NOT NULL,
    shared_artists jsonb NOT NULL,
    shared_genres jsonb NOT NULL,
    song_that_brings_you_together jsonb,
    components jsonb NOT NULL,
    computed_at timestamp NOT NULL,
    CHECK (user_id <> other_user_id)
);
-- "A user's current neighbours": user_id = $1 AND computed_at = (latest run).
CREATE INDEX idx_user_taste_matches_user ON user_taste_matches(user_id, computed_at DESC, rank);
-- "A pair's score over time": both directions, each an index range.
CREATE INDEX idx_user_taste_matches_pair ON user_taste_matches(user_id, other_user_id, computed_at DESC);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['taste_match_runs', 'user_taste_matches']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION blendify_reject_mutation()',
                       t || '_append_only', t);
    END LOOP;
END $$;

CREATE VIEW latest_taste_match_run AS
SELECT * FROM taste_match_runs ORDER BY computed_at DESC LIMIT 1;

CREATE VIEW latest_user_taste_matches AS
SELECT m.* FROM user_taste_matches m
WHERE m.computed_at = (SELECT max(computed_at) FROM taste_match_runs);

-- Blend generations: every generation's rows share one created_at. Rows are never edited (a
-- generation is history); deleting a blend still removes its tracks (ON DELETE CASCADE), so only
-- UPDATE is refused here.
CREATE INDEX idx_blend_tracks_generation ON blend_tracks(blend_id, created_at DESC, position);

CREATE TRIGGER blend_tracks_no_update BEFORE UPDATE ON blend_tracks
    FOR EACH STATEMENT EXECUTE FUNCTION blendify_reject_mutation();

CREATE VIEW latest_blend_tracks AS
SELECT t.* FROM blend_tracks t
WHERE t.created_at = (SELECT max(created_at) FROM blend_tracks x WHERE x.blend_id = t.blend_id);

-- The new-blends sensor reads blends created after its cursor.
CREATE INDEX idx_blends_created_at ON blends(created_at, id);
