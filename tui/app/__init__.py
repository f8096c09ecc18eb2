"""The Textual UI. Never imports docker: it talks to the engine through a StoreSource in workers."""
