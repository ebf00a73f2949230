"""The signups area."""
