"""The bottom layer: errors, settings, the token and fetch contracts, time. Imports nothing above it."""
