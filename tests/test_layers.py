"""The direction of dependencies (DESIGN.md): the node and the connectors never import the mock
departments, so nothing the mocks do can stand in for the real departments at run time."""
import ast
import re
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


def test_beijing_time_is_one_constant_for_the_node_and_the_connectors():
    """The departments' and the clerks' clock is declared once (querynode/domain/model.py SHANGHAI);
    a second copy could drift (CHINA = UTC+8 ignores a future change of the zone's rules). The
    mocks are the departments' own side and keep their own."""
    zone = re.compile(r"ZoneInfo\(\s*[\"']Asia/Shanghai[\"']\s*\)|timedelta\(\s*hours\s*=\s*8\s*\)")
    copies = sorted(f"{p.relative_to(ROOT)}:{n}" for package in ("querynode", "connectors")
                    for p in (ROOT / package).rglob("*.py")
                    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if zone.search(line))
    assert copies == ["querynode/domain/model.py:" + str(_line_of("querynode/domain/model.py", "SHANGHAI = "))]


def _line_of(path: str, text: str) -> int:
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    return next((n for n, line in enumerate(lines, 1) if line.startswith(text)), 0)
