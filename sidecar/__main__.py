"""``python -m tandem.sidecar`` runs ``tandemd``."""
from .cli.daemon import main

main()
