"""The house keeps its shape: areas depend downward only, and shared modules on no area.

Every import of every module is read from its syntax tree (at module level, inside functions
and under ``TYPE_CHECKING`` alike), so a cycle cannot hide in a function. A lower area that
must let a higher one react sends a signal from ``rallyhub.signals`` instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rallyhub"

# Each area's level: an area may import areas of a lower level only.
LEVELS = {
    "places": 0,
    "auth": 0,
    "campaigns": 1,
    "rallies": 2,
    "signups": 3,
    "toolkits": 3,
    "map": 4,
    "api": 4,
    "hq": 4,
}
# Modules that put the application together, above every area.
ASSEMBLY = {"__init__", "cli", "demo", "tasks"}


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) of every rallyhub module the tree imports."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "rallyhub":
                # ``from rallyhub import rallies`` names the modules themselves.
                found += [(node.lineno, f"rallyhub.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] == "rallyhub"]


def _area_of(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LEVELS else None


def import_violations(package: Path = PACKAGE) -> list[str]:
    """Every import against the order, as ``path:line: importer -> imported``."""
    violations = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent).with_suffix("")
        module = ".".join(relative.parts)
        area = _area_of(module)
        if area is None and relative.parts[1] in ASSEMBLY:
            continue
        for line, name in _imported_modules(ast.parse(path.read_text(), str(path))):
            target = _area_of(name)
            if target is None or target == area:
                continue
            if area is None or LEVELS[target] >= LEVELS[area]:
                violations.append(f"{path.relative_to(package.parent)}:{line}: {module} -> {name}")
    return violations


def test_areas_depend_downward_only():
    assert import_violations() == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # A lower area importing a higher one inside a function is still a cycle.
        (
            {"rallies/services.py": "def f():\n    from rallyhub.signups.services import x\n"},
            [
                "rallyhub/rallies/services.py:2: rallyhub.rallies.services -> rallyhub.signups.services"  # noqa: E501
            ],
        ),
        # Areas of one level do not import each other either.
        (
            {"signups/views.py": "from rallyhub import toolkits\n"},
            ["rallyhub/signups/views.py:1: rallyhub.signups.views -> rallyhub.toolkits"],
        ),
        # Shared modules import no area.
        (
            {"mail.py": "import rallyhub.auth.models\n"},
            ["rallyhub/mail.py:1: rallyhub.mail -> rallyhub.auth.models"],
        ),
        # Downward, within an area, and the assembly modules are fine.
        (
            {
                "hq/views.py": "from rallyhub.rallies.models import Rally\n",
                "rallies/views.py": "from rallyhub.rallies import services\n",
                "__init__.py": "from rallyhub.hq.views import bp\n",
            },
            [],
        ),
    ],
)
def test_the_check_catches_what_it_must(tmp_path, files, expected):
    package = tmp_path / "rallyhub"
    for name, source in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(source)
    assert import_violations(package) == expected
