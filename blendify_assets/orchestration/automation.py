"""Sensors and schedules (issue 6). Filled in by the orchestration work."""

import dagster as dg


def orchestration_definitions() -> dg.Definitions:
    return dg.Definitions()
