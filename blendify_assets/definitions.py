"""The one Definitions object of the `blendify` code location."""

import dagster as dg

defs = dg.Definitions()
