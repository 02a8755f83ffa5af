"""The simulator wired into Blendify: `blendify demo`, `blendify dev --demo`, tests and benchmarks put
simulated people in through the same rows the web app writes."""
