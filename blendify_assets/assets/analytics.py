"""Overlap analytics and blend assets (issue 7). Filled in by the analytics work."""

import dagster as dg


def analytics_definitions() -> dg.Definitions:
    return dg.Definitions()
