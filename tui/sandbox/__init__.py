"""Throw-away private Docker daemons, registries and generated images for tests and demos."""
