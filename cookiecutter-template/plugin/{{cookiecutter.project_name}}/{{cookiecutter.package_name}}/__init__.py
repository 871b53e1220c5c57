"""{{ cookiecutter.project_name }}: the ``{{ cookiecutter.component_type }}`` component type for Tandem."""
from __future__ import annotations

COMPONENT_TYPE = "{{ cookiecutter.component_type }}"
