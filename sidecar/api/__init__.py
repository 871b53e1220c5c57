"""The sidecar's HTTP API: one module per building block, assembled in :mod:`.app`."""
