"""ComponentResources, one per file: each takes a validated spec and owns its children."""
