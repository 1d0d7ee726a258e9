"""Realtime statistics: minute buckets, their hour/day roll-up and the readers of both."""
