"""docker-sweep."""
