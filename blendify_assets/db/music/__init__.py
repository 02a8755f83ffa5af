"""The eight music tables, `snapshots` and the `latest_*` views: their columns (`tables`), the
append writer (`writer`), what a sync reads back (`state`) and the analytics reads (`reads`)."""
