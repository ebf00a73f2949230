"""The toolkits area."""
