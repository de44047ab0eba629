"""Shared test helpers (sample events, an embedded PostgreSQL, AWS fakes)."""
