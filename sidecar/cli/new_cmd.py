"""``tandem new service|plugin``: start a project from the cookiecutter templates.

The templates live in ``cookiecutter-template/`` at the root of the Tandem source tree
(one folder per template); this command runs cookiecutter's API on the chosen one, so
``tandem new plugin`` and ``cookiecutter cookiecutter-template --directory plugin`` give
the same project.
"""
from __future__ import annotations

from pathlib import Path

import click

__all__ = ["new", "template_root", "generate"]

TEMPLATES = ("service", "plugin")


def template_root() -> Path:
    """The ``cookiecutter-template`` folder beside the installed (editable) source tree."""
    import tandem

    root = Path(tandem.__file__).resolve().parents[1] / "cookiecutter-template"
    if not (root / "cookiecutter.json").is_file():
        raise click.ClickException(
            f"the project templates are not at {root}: `tandem new` needs Tandem installed from its "
            "source tree (pip install -e <checkout>); or run cookiecutter on the checkout's "
            "cookiecutter-template/ folder directly"
        )
    return root


def generate(template: str, output_dir: Path, *, no_input: bool = False,
             extra_context: dict[str, str] | None = None, overwrite: bool = False) -> Path:
    """Render `template` (``service`` or ``plugin``) into `output_dir`; returns the project folder."""
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.main import cookiecutter

    if template not in TEMPLATES:
        raise click.ClickException(f"unknown template {template!r} (choose from {', '.join(TEMPLATES)})")
    try:
        project = cookiecutter(
            str(template_root()), directory=template, no_input=no_input, extra_context=extra_context or {},
            output_dir=str(output_dir), overwrite_if_exists=overwrite,
        )
    except CookiecutterException as exc:
        raise click.ClickException(f"cookiecutter failed: {exc}") from exc
    return Path(project)


def _context(values: tuple[str, ...]) -> dict[str, str]:
    context: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not NAME=VALUE", param_hint="--extra-context")
        context[key.strip()] = val
    return context


@click.command("new")
@click.argument("template", type=click.Choice(TEMPLATES))
@click.option("--output-dir", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to create the project folder.")
@click.option("--no-input", is_flag=True, help="Take every default (and the --extra-context values); ask nothing.")
@click.option("--extra-context", "-x", "extra", multiple=True, metavar="NAME=VALUE",
              help="Set a template variable, e.g. -x app_id=orders -x with_binding=no (repeatable).")
@click.option("--overwrite", is_flag=True, help="Write into an existing project folder.")
def new(template: str, output_dir: Path, no_input: bool, extra: tuple[str, ...], overwrite: bool) -> None:
    """Create a new service or component plugin from Tandem's cookiecutter templates.

    \b
    service  an app with @method / @topic / @binding handlers, components, Dockerfile, tests
    plugin   a distribution providing a state, pub/sub or binding component, with tests
    """
    project = generate(template, output_dir, no_input=no_input, extra_context=_context(extra), overwrite=overwrite)
    click.echo(f"Created {project}")
    click.echo(f"Next: cd {project} && pip install -e '.[test]' && python -m pytest -q")
