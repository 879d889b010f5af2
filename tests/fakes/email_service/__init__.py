"""A toy fourth team, added the way the README's "Add a team" section says: this package plus one registry entry."""
