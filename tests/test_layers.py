"""The direction of dependencies (DESIGN.md): the node and the connectors never import the mock
departments, so nothing the mocks do can stand in for the real departments at run time."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["querynode", "connectors"])
def test_no_import_of_mocks(package):
    offenders = {str(p.relative_to(ROOT)): sorted(m for m in imported_modules(p) if m.split(".")[0] == "mocks")
                 for p in (ROOT / package).rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_scan_sees_an_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("from mocks.faults import FaultPlan\nimport mocks.world\n", encoding="utf-8")
    assert imported_modules(sample) == {"mocks.faults", "mocks.world"}
