"""Dagster sensors: EMA callbacks → state and raw materializations; dispatch; domain events."""

# The sensor daemon's loop runs at most every 5 s (MIN_INTERVAL_LOOP_TIME in dagster/_daemon/sensor.py)
# and skips a sensor whose last tick is younger than its minimum interval. An interval equal to the
# loop period aliases: when the next loop reaches the sensor a few milliseconds sooner than the last
# one did, the tick is skipped and the gap doubles to 10 s. An interval just below the loop period
# lets every loop evaluate the sensor, so the loop stays the only floor.
TICK_INTERVAL_S = 4
