"""Every import between apps runs down the flow (docs/architecture.md): an app imports only apps
at its own level or below, never one above it. Checked on the source (every ``import`` statement,
including those inside functions), so a lazy import that climbs the flow fails too.

Levels, bottom to top::

    jobs, ops (the one job lifecycle; deployment checks such as the database connection budget)
    studies (the base: the study design, the audit log)
    imports                   (import: DICOM in, validated and blinded)
    recon                     (recon: the worker makes series and hands them to import)
    reading                   (schedule → read; blinded serving under the reading rule)
    analysis                  (analyse; pure, imports no app at all)
    reports                   (report)
    workspace, demo           (the coordinator UI and the demo drive every stage; nothing imports them)

The project package itself (``readerstudy.settings``, ``urls``, ``api_urls``, ``celery``,
``asgi``/``wsgi``, the error views, the app server's configuration and the static files storage)
wires the apps together and may import any of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LEVELS = {
    "readerstudy.jobs": -1,
    "readerstudy.ops": -1,
    "readerstudy.studies": 0,
    "readerstudy.imports": 1,
    "recon": 2,
    "readerstudy.reading": 3,
    "readerstudy.analysis": 4,
    "readerstudy.reports": 5,
    "readerstudy.workspace": 6,
    "readerstudy.demo": 6,
}
PROJECT = {"readerstudy", "readerstudy.settings", "readerstudy.urls", "readerstudy.api_urls", "readerstudy.celery",
           "readerstudy.asgi", "readerstudy.wsgi", "readerstudy.errors", "readerstudy.webserver",
           "readerstudy.staticstorage"}


def app_of(module: str) -> str | None:
    for app in sorted(LEVELS, key=len, reverse=True):
        if module == app or module.startswith(app + "."):
            return app
    return None


#: Known climbs, each with the issue that removes it. Keep this list short; never add to it lightly.
KNOWN: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``source``, relative imports resolved."""
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # ``from readerstudy import reports`` imports the app named after ``import``.
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names
                      if app_of(f"{target}.{alias.name}") and not app_of(target)]
    return found


def check_source(source: str, module: str, label: str, is_package: bool = False) -> list[str]:
    """The imports of one module that climb the flow, as messages."""
    source_app = app_of(module)
    if source_app is None:
        return [f"{label}: not in any app of the flow"]
    out = []
    for line, target in imported_modules(source, module, is_package):
        target_app = app_of(target)
        if (label, target) in KNOWN:
            continue
        if source_app == "readerstudy.analysis":
            if target_app not in (None, source_app) or target in PROJECT:
                out.append(f"{label}:{line}: the pure analysis package imports {target}")
        elif target_app is not None and LEVELS[target_app] > LEVELS[source_app]:
            out.append(f"{label}:{line}: {source_app} imports {target} ({target_app} is above it)")
    return out


def violations() -> list[str]:
    out = []
    for path in [*sorted((ROOT / "readerstudy").rglob("*.py")), *sorted((ROOT / "recon").rglob("*.py"))]:
        module = module_name(path)
        if "migrations" in path.parts or module in PROJECT:
            continue
        out += check_source(path.read_text(encoding="utf-8"), module, str(path.relative_to(ROOT)),
                            is_package=path.name == "__init__.py")
    return out


def test_no_app_imports_one_above_it_in_the_flow():
    found = violations()
    assert not found, "imports that climb the flow:\n" + "\n".join(found)


def test_the_check_sees_climbing_imports_lazy_and_relative():
    probe = "def f():\n    from readerstudy.reading.models import Read\n    from ..reports import models\n"
    found = check_source(probe, "readerstudy.studies.probe", "probe.py")
    assert len(found) == 2 and "readerstudy.reading.models" in found[0] and "readerstudy.reports" in found[1]
    assert check_source("from readerstudy.studies import models\n", "readerstudy.reading.probe", "probe.py") == []
    assert check_source("import django\n", "readerstudy.analysis.probe", "probe.py") == []
    assert check_source("from readerstudy.studies import models\n", "readerstudy.analysis.probe", "probe.py")
    assert check_source("from readerstudy.workspace import views\n", "readerstudy.demo.probe", "probe.py") == []


if __name__ == "__main__":
    print("\n".join(violations()) or "no import climbs the flow")
