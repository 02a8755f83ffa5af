"""SQL around the pure blend package: members' tastes from the latest-state views, taste matches
kept over time, and the read queries behind the CLI. No Dagster here."""
