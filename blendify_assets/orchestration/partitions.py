"""Dynamic partitions: one set of users per provider (key = users.id), and one of blends."""

import dagster as dg

spotify_users = dg.DynamicPartitionsDefinition(name="spotify_users")
apple_music_users = dg.DynamicPartitionsDefinition(name="apple_music_users")
blends = dg.DynamicPartitionsDefinition(name="blends")

USER_PARTITIONS: dict[str, dg.DynamicPartitionsDefinition] = {
    "spotify": spotify_users,
    "apple": apple_music_users,
}
