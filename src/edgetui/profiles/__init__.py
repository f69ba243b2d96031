"""Profiles: the TOML schema and its expansion into a plan of configurations."""
