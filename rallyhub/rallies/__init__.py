"""The rallies area."""
