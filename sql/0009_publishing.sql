-- Publishing blends to each member's own service (issue 14). Every table here is append-only:
-- the current value is the latest row, and history stays readable.

-- The match cache: which track of a target service a blend track is, and how that was decided
-- (own_id | isrc | metadata), or why none was found. A regeneration asks the services only about
-- tracks with no row here (an unmatched row is asked again after a week: catalogues grow).
CREATE TABLE track_matches (
    id              bigserial PRIMARY KEY,
    target          provider  NOT NULL,
    source_key      text      NOT NULL,  -- the blend track as matching sees it (isrc, title, artist, album, duration)
    method          text      CHECK (method IN ('own_id', 'isrc', 'metadata')),
    confidence      real      NOT NULL DEFAULT 0,
    target_track_id text,
    reason          text,                -- unmatched: no_title | not_found | rejected
    detail          text,                -- unmatched: the closest candidate and why it was refused
    matched_at      timestamp NOT NULL DEFAULT now(),
    CHECK ((method IS NULL) = (target_track_id IS NULL)),
    CHECK (method IS NOT NULL OR reason IS NOT NULL)
);
CREATE INDEX idx_track_matches_lookup ON track_matches(target, source_key, matched_at DESC);

-- A member's choice about publishing: per blend (blend_id set) or for all their blends (NULL).
-- `blendify connect spotify --publish` records the opt-in; `blendify blends publishing` either.
CREATE TABLE publish_preferences (
    id       bigserial PRIMARY KEY,
    user_id  uuid      NOT NULL REFERENCES users(id),
    blend_id uuid      REFERENCES blends(id) ON DELETE CASCADE,
    publish  boolean   NOT NULL,
    provider provider,                    -- the service to publish to (NULL: the one connected)
    set_at   timestamp NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX idx_publish_preferences_user ON publish_preferences(user_id, set_at DESC);

-- Every playlist Blendify created in a member's account, stored as soon as the service returned
-- its id and before any item is added: a retry adopts it instead of creating a second one.
-- Spotify keeps one per (blend, member), replaced in place; Apple one per generation.
CREATE TABLE blend_playlists (
    id            bigserial PRIMARY KEY,
    blend_id      uuid      NOT NULL REFERENCES blends(id) ON DELETE CASCADE,
    user_id       uuid      NOT NULL REFERENCES users(id),
    provider      provider  NOT NULL,
    playlist_id   text      NOT NULL,
    url           text,
    name          text      NOT NULL,
    generation_at timestamp NOT NULL,  -- the generation it was created for
    created_at    timestamp NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (provider, playlist_id)
);
CREATE INDEX idx_blend_playlists_member ON blend_playlists(blend_id, user_id, provider, created_at DESC);

-- What each publish did for each member and generation: the outcome, the playlist, the tracks
-- published, matched by each method, unmatched with reasons. 'creating' is written before a
-- create request, so a create whose answer was lost is looked for before another is sent.
CREATE TABLE blend_publications (
    id               bigserial PRIMARY KEY,
    blend_id         uuid      NOT NULL REFERENCES blends(id) ON DELETE CASCADE,
    user_id          uuid      NOT NULL REFERENCES users(id),
    provider         provider,
    generation_at    timestamp NOT NULL,
    status           text      NOT NULL CHECK (status IN ('creating', 'published', 'unchanged', 'opted_out',
                                  'no_connection', 'missing_scope', 'needs_reauth', 'failed')),
    playlist         bigint    REFERENCES blend_playlists(id),
    tracks_published integer   NOT NULL DEFAULT 0,
    matched          jsonb     NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(matched) = 'object'),
    unmatched        jsonb     NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(unmatched) = 'array'),
    detail           text,
    published_at     timestamp NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX idx_blend_publications_member ON blend_publications(blend_id, user_id, published_at DESC);

-- Append-only. The match cache fully (0003's function); the three tables of a blend are never
-- updated but go with their blend when it is deleted (as blend_tracks, 0004).
CREATE TRIGGER track_matches_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON track_matches
    FOR EACH STATEMENT EXECUTE FUNCTION blendify_reject_mutation();
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['publish_preferences', 'blend_playlists', 'blend_publications']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION blendify_reject_mutation()',
                       t || '_no_update', t);
    END LOOP;
END $$;
