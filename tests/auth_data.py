"""Form data shared by the account tests."""

REGISTRATION = {
    "name": "Marta Ruiz",
    "email": "marta@example.org",
    "password": "lilac-river-93-stones",
    "confirm": "lilac-river-93-stones",
}
