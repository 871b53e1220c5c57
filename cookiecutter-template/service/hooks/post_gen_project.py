"""Remove what the chosen options do not use."""
from __future__ import annotations

from pathlib import Path

if "{{ cookiecutter.with_binding }}" != "yes":
    Path("components", "cron.yaml").unlink()
