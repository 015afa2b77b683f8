"""Scheduled work: ticks that decide what is due, the outbox sender, digests. `python -m scheduler`."""
