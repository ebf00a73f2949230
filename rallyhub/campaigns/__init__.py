"""The campaigns area."""
