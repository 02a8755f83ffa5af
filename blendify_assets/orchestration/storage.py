"""Dagster's Postgres event-log storage, remembering the dynamic partition keys and its connection.

Creating a partition-range run makes Dagster resolve the range against the whole dynamic key list
once per asset (`get_partition_keys_in_range` -> `get_dynamic_partitions`): a full Spotify sync run
read all 100,000 keys eight times, and the asset backfill daemon read them again on every iteration,
so creating a run grew with the partition set (docs/deploy.md, "100,000 partitions"). Here a process
keeps the last key list per partition set and reads it again only when the set changed, which one
aggregate over the set's rows tells (their count, highest and summed ids): an added key raises the
highest id, a deleted one lowers the count, and an insert that commits late with a lower id beside
a delete still changes the sum (ids are unique), so any change since the last read is seen.

dagster-postgres also opens a new Postgres session (a server process) for every statement
(`NullPool`): about 100 a created run (its planned events, asset check rows, key lookups), which
cost the server more CPU than the statements. This storage keeps one pooled connection per process
(as Dagster's own `optimize_for_webserver` does for the webserver), checked before each use.

Dagster's extension point: `event_log_storage` in dagster.yaml names this class (instance.py); it is
a `PostgresEventLogStorage` (dagster-postgres' public class) overriding methods of the public
storage interface. Internals relied on, pinned by tests/orchestration/test_storage.py: Dagster
resolves ranges through the storage's `get_dynamic_partitions` (whose query on `dynamic_partitions`,
ordered by id, is repeated here with the ids); the storage's statements go through
its `_engine` attribute (replaced here); the `dynamic_partitions` table keeps its serial `id`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from dagster._core.storage.event_log.schema import DynamicPartitionsTable
from dagster._serdes import ConfigurableClassData
from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

# One connection kept per process; threads beyond it (the daemon's) borrow up to 8 more, closed on
# return. Pre-ping: a restarted server costs a reconnect, not a failed statement.
POOL: dict[str, Any] = {"pool_size": 1, "max_overflow": 8, "pool_recycle": 300, "pool_pre_ping": True}

Stamp = tuple[int, int, int]  # (keys, highest id, sum of ids): changes whenever a key is added or deleted


class PartitionKeysCachingEventLogStorage(PostgresEventLogStorage):
    """`PostgresEventLogStorage` that reads a dynamic partition set's keys only when it changed,
    remembers that its tables exist (Dagster asks before every asset check event it stores), and
    keeps its connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._engine = create_pg_engine(
            self.postgres_url, self._token_provider, isolation_level="AUTOCOMMIT", **POOL
        )
        self._keys: dict[str, tuple[Stamp, tuple[str, ...]]] = {}
        self._tables: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PartitionKeysCachingEventLogStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def partition_set_stamp(self, partitions_def_name: str) -> Stamp:
        """The set's size, highest id and summed ids: one aggregate, no keys sent."""
        table = DynamicPartitionsTable
        query = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.max(table.c.id), 0),
            sa.func.coalesce(sa.func.sum(table.c.id), 0),
        ).where(table.c.partitions_def_name == partitions_def_name)
        with self.index_connection() as conn:
            count, highest, total = conn.execute(query).one()
        return int(count), int(highest), int(total)

    def get_dynamic_partitions(self, partitions_def_name: str) -> Sequence[str]:
        stamp = self.partition_set_stamp(partitions_def_name)
        with self._lock:
            known = self._keys.get(partitions_def_name)
        if known is not None and known[0] == stamp:
            return list(known[1])
        # The keys are read with their ids and stamped from those rows (one snapshot). Stamped by
        # the aggregate above instead, a key another process added between the two statements and
        # deleted afterwards left the stamp as it was, and the deleted key was served on.
        self._check_partitions_table()
        table = DynamicPartitionsTable
        query = (
            sa.select(table.c.id, table.c.partition)
            .where(table.c.partitions_def_name == partitions_def_name)
            .order_by(table.c.id)
        )
        with self.index_connection() as conn:
            rows = conn.execute(query).all()
        ids = [int(row[0]) for row in rows]
        keys = [str(row[1]) for row in rows]
        read: Stamp = (len(ids), max(ids, default=0), sum(ids))
        with self._lock:
            self._keys[partitions_def_name] = (read, tuple(keys))
        return keys

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()  # the pooled connection: a dropped database has no session left

    def has_table(self, table_name: str) -> bool:
        """Dagster's tables, once there, stay (an upgrade only adds); a missing one is asked again."""
        if table_name in self._tables:
            return True
        present = super().has_table(table_name)
        if present:
            self._tables.add(table_name)
        return present
