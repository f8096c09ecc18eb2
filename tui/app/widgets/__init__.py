"""Widgets of the docker-sweep app, one per file."""
