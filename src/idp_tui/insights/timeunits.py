"""Units of time in seconds (the DORA counts' times are Unix seconds)."""

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
MONTH = 30 * DAY
