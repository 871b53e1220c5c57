"""Refuse names that would generate a broken distribution."""
from __future__ import annotations

import re
import sys

PACKAGE = "{{ cookiecutter.package_name }}"
CTYPE = "{{ cookiecutter.component_type }}"
PREFIX = {"state": "state.", "pubsub": "pubsub.", "binding": "bindings."}["{{ cookiecutter.kind }}"]

if not PACKAGE.isidentifier():
    sys.exit(f"package_name {PACKAGE!r} is not a Python identifier")
if not CTYPE.startswith(PREFIX) or not re.fullmatch(r"[a-z0-9]+(\.[a-z0-9.-]+)+", CTYPE):
    sys.exit(f"component_type {CTYPE!r} must look like {PREFIX}<name> (lowercase)")
