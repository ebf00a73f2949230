"""The hq area."""
