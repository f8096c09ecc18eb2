"""Screens and dialogs of the docker-sweep app."""
