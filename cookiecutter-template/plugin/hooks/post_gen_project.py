"""Keep the component module and tests of the chosen kind only."""
from __future__ import annotations

from pathlib import Path

KIND = "{{ cookiecutter.kind }}"
for kind in ("state", "pubsub", "binding"):
    if kind != KIND:
        Path("{{ cookiecutter.package_name }}", f"{kind}.py").unlink()
        Path("tests", f"test_{kind}.py").unlink()
