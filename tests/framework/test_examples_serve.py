"""Every example service is served by `app.run()` and shares the app's one client: no uvicorn
tail repeated, no client made per request or per module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SERVICES = sorted(p for p in EXAMPLES.rglob("*.py") if "App(" in p.read_text())


def test_the_services_are_found() -> None:
    names = {p.name for p in SERVICES}
    assert {"order_service.py", "job.py", "subscriber.py", "bank.py"} <= names


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_an_example_service_runs_with_app_run_and_the_apps_client(path: Path) -> None:
    source = path.read_text()
    tree = ast.parse(source)
    assert "uvicorn" not in source
    main = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    assert main and ast.unparse(main[0].body[0]).strip() == "app.run()"
    made = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func).endswith("Client.from_env")]
    assert made == [], f"{path.name} makes its own client; take the app's (a `Client` parameter)"
