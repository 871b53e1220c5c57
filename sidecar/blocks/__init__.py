"""Building blocks: the logic behind each API, free of HTTP; each one a :class:`~.base.Block`."""
