"""The SQLite backend: one database file in the data directory."""
