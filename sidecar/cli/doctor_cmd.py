"""``tandem doctor`` (alias ``tandem check``): what the sidecar would refuse, ignore or not check, before running it.

It reads the same folders and configuration ``tandem run`` would (or a run file's,
app by app) through the sidecar's own loader and plugin registry
(:func:`tandem.sidecar.checks.diagnose`), so what it reports is what ``tandemd``
would do: errors that stop the sidecar, warnings for what loads but is not applied
(the very lines ``tandemd`` logs at start-up), and the components whose driver
declares no metadata fields. The exit status is 1 when there is an error.
"""
from __future__ import annotations

from pathlib import Path

import click

from ..checks import Finding, diagnose
from ..home import default_components_path, default_config_path
from ..plugins import ComponentRegistry, PluginError, component_registry, plugin_manager
from .run_cmd import resolve_resources
from .runfile import RunFileError, load_run_file

__all__ = ["doctor", "register"]

_ORDER = {"error": 0, "warning": 1, "info": 2}


@click.command()
@click.option("--resources-path", "--components-path", "-d", "resources_paths", multiple=True,
              help="A folder of component YAML files; repeatable (default: ~/.tandem/components, as tandem run).")
@click.option("--config", "-c", type=click.Path(dir_okay=False),
              help="A Configuration YAML file (default: ~/.tandem/config.yaml if present).")
@click.option("--run-file", "-f", help="Check every app of this run file (or of tandem.yaml / dapr.yaml in this folder).")
@click.option("--app-id", "-a", default="", help="Check the files as this app sees them (component scopes).")
def doctor(resources_paths: tuple[str, ...], config: str | None, run_file: str | None, app_id: str) -> None:
    """List what would stop the sidecar, what it loads but does not apply, and unknown component fields.

    \b
    tandem doctor                       # ~/.tandem/components and ~/.tandem/config.yaml
    tandem doctor -d ./components -c ./config.yaml
    tandem doctor -f tandem.yaml        # every app of a run file
    """
    registry = _registry()
    if run_file is not None:
        if resources_paths or config or app_id:
            raise click.UsageError("-f checks the apps of a run file; their paths and ids come from the file")
        findings = _run_file(run_file, registry)
    else:
        findings = _folders(resources_paths, config, app_id, registry)
    _report(findings)
    raise SystemExit(1 if any(f.level == "error" for _, f in findings) else 0)


def register(group: click.Group) -> None:
    """Add ``doctor`` and its alias ``check`` to the ``tandem`` command group."""
    group.add_command(doctor)
    group.add_command(doctor, "check")


def _registry() -> ComponentRegistry:
    try:
        return component_registry(plugin_manager())
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None


def _folders(given: tuple[str, ...], config: str | None, app_id: str,
             registry: ComponentRegistry) -> list[tuple[str, Finding]]:
    resources = resolve_resources(given)
    if resources is None:
        return [("", Finding("error", str(default_components_path()),
                             "no components folder: run `tandem init` first, or pass --resources-path <folder>"))]
    if config is None and default_config_path().is_file():
        config = str(default_config_path())
    config_path = str(Path(config).expanduser().absolute()) if config else None
    return [("", f) for f in diagnose(resources, config_path, app_id, registry)]


def _run_file(given: str, registry: ComponentRegistry) -> list[tuple[str, Finding]]:
    try:
        loaded = load_run_file(given)
    except RunFileError as exc:
        return [("", Finding("error", "", str(exc)))]
    found = [("", Finding("warning", str(loaded.path), warning)) for warning in loaded.warnings]
    for app in loaded.apps:
        found += [(app.app_id, f) for f in diagnose(app.resources_paths, app.config, app.app_id, registry)]
    return found


def _report(findings: list[tuple[str, Finding]]) -> None:
    for app, finding in sorted(findings, key=lambda item: (item[0], _ORDER[item[1].level])):
        prefix = f"[{app}] " if app else ""
        click.echo(f"{finding.level:<8}{prefix}{finding}")
    counts = {level: sum(1 for _, f in findings if f.level == level) for level in _ORDER}
    if not findings:
        click.echo("no problems found: every component's type is installed, every field known and everything applied")
    else:
        click.echo(f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} note(s)")
