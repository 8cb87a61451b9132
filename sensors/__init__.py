"""Dagster sensors: EMA callbacks → state and raw materializations; dispatch; domain events."""
