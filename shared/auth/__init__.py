"""Authentication and authorization: who calls (from the bearer token only) and what they may do."""
