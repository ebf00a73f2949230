"""The places area."""
