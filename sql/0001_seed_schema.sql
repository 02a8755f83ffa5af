-- The schema document's contract: 13 tables, 2 enums and the indexes it lists, exactly as written.
-- Additions live in later migrations so this file can be compared with the document line by line.

CREATE TYPE provider AS ENUM ('spotify', 'apple');
CREATE TYPE time_range AS ENUM ('short_term', 'medium_term', 'long_term');

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text UNIQUE NOT NULL,
    display_name text,
    password_hash text,
    avatar_url text,
    created_at timestamp NOT NULL DEFAULT now(),
    updated_at timestamp NOT NULL DEFAULT now()
);

CREATE TABLE provider_connections (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id),
    provider provider NOT NULL,
    provider_user_id text NOT NULL,
    access_token_encrypted text NOT NULL,
    refresh_token_encrypted text,
    token_expires_at timestamp,
    created_at timestamp NOT NULL DEFAULT now(),
    updated_at timestamp NOT NULL DEFAULT now()
);

CREATE TABLE user_top_tracks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id),
    provider provider NOT NULL,
    track_id text NOT NULL,
    track_name text NOT NULL,
    artist_name text NOT NULL,
    album_name text,
    album_art_url text,
    duration_ms integer,
    isrc text,
    time_range time_range NOT NULL,
    rank integer NOT NULL,
    track_metadata jsonb,
    fetched_at timestamp NOT NULL DEFAULT now()
);

CREATE TABLE user_top_artists (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id),
    provider provider NOT NULL,
    artist_id text NOT NULL,
    artist_name text NOT NULL,
    image_url text,
    genres jsonb,
    popularity integer,
    follower_count integer,
    time_range time_range NOT NULL,
    rank integer NOT NULL,
    artist_metadata jsonb,
    fetched_at timestamp NOT NULL DEFAULT now()
);

CREATE TABLE user_recently_played (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id),
    provider provider NOT NULL,
    track_id text NOT NULL,
    track_name text NOT NULL,
    artist_name text NOT NULL,
    album_name text,
    album_art_url text,
    duration_ms integer,
    played_at timestamp NOT NULL,
    isrc text,
    track_metadata jsonb,
    fetched_at timestamp NOT NULL DEFAULT now()
);

CREATE TABLE user_playlists (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id),
    provider provider NOT NULL,
    playlist_id text NOT NULL,
    playlist_name text NOT NULL,
    description text,
    image_url text,
    track_count integer,
    follower_count integer,
    is_public boolean,
    is_owner boolean NOT NULL,
    owner_name text,
    playlist_url text,
    playlist_metadata jsonb,
    fetched_at timestamp NOT NULL DEFAULT now()
);

CREATE TABLE user_playlist_tracks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id),
    provider provider NOT NULL,
    playlist_id text NOT NULL,
    track_id text NOT NULL,
    track_name text NOT NULL,
    artist_name text NOT NULL,
    album_name text,
    album_art_url text,
    duration_ms integer,
    added_at timestamp,
    added_by text,
    isrc text,
    track_position integer,
    track_metadata jsonb,
    fetched_at timestamp NOT NULL DEFAULT now()
);

CREATE TABLE user_saved_tracks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id),
    provider provider NOT NULL,
    track_id text NOT NULL,
    track_name text NOT NULL,
    artist_name text NOT NULL,
    album_name text,
    album_art_url text,
    duration_ms integer,
    saved_at timestamp,
    popularity integer,
    isrc text,
    track_metadata jsonb,
    fetched_at timestamp NOT NULL DEFAULT now()
);

CREATE TABLE user_saved_albums (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id),
    provider provider NOT NULL,
    album_id text NOT NULL,
    album_name text NOT NULL,
    artist_name text NOT NULL,
    image_url text,
    release_date text,
    total_tracks integer,
    saved_at timestamp,
    album_type text,
    genres jsonb,
    album_metadata jsonb,
    fetched_at timestamp NOT NULL DEFAULT now()
);

CREATE TABLE user_followed_artists (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id),
    provider provider NOT NULL,
    artist_id text NOT NULL,
    artist_name text NOT NULL,
    image_url text,
    genres jsonb,
    popularity integer,
    follower_count integer,
    artist_url text,
    artist_metadata jsonb,
    fetched_at timestamp NOT NULL DEFAULT now()
);

CREATE TABLE blends (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    description text,
    created_by_user_id uuid NOT NULL REFERENCES users(id),
    algorithm_type text NOT NULL,
    algorithm_config jsonb,
    total_tracks integer DEFAULT 0,
    is_public boolean DEFAULT false,
    created_at timestamp NOT NULL DEFAULT now(),
    updated_at timestamp NOT NULL DEFAULT now()
);

CREATE TABLE blend_participants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    blend_id uuid NOT NULL REFERENCES blends(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id),
    weight real DEFAULT 1.0,
    joined_at timestamp NOT NULL DEFAULT now()
);

CREATE TABLE blend_tracks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    blend_id uuid NOT NULL REFERENCES blends(id) ON DELETE CASCADE,
    track_id text NOT NULL,
    track_name text NOT NULL,
    artist_name text NOT NULL,
    album_name text,
    album_art_url text,
    duration_ms integer,
    position integer NOT NULL,
    source_provider provider NOT NULL,
    source_user_id uuid NOT NULL REFERENCES users(id),
    similarity_score real,
    blend_metadata jsonb,
    created_at timestamp NOT NULL DEFAULT now()
);

CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_provider_connections_user_provider ON provider_connections(user_id, provider);
CREATE INDEX idx_user_top_tracks_user_provider ON user_top_tracks(user_id, provider);
CREATE INDEX idx_user_playlists_user_provider ON user_playlists(user_id, provider);
CREATE INDEX idx_user_recently_played_played_at ON user_recently_played(played_at DESC);
CREATE INDEX idx_user_top_tracks_fetched_at ON user_top_tracks(fetched_at DESC);
CREATE INDEX idx_blend_participants_blend_id ON blend_participants(blend_id);
CREATE INDEX idx_blend_tracks_blend_position ON blend_tracks(blend_id, position);
