"""Building blocks: the logic behind each API, free of HTTP."""
