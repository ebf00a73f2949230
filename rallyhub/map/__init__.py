"""The map area."""
