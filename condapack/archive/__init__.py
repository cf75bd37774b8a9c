"""Archive writers: tar (optionally compressed) and zip, all deterministic."""
