"""Command-line entry points: ``tandemd`` (the sidecar) and ``tandem`` (the CLI)."""
