"""End-to-end tests written once, async; ``tests/_sync`` is generated from them by scripts/unasync.py."""
