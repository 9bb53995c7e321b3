"""docs/case-rules.md is the rule table the case checks follow: its plan table equals
plans.yaml, and its findings table names exactly the finding codes the code can give, each
with the code's severity."""
from __future__ import annotations

import re
from pathlib import Path

from querynode.core.findings import CATALOGUE
from querynode.core.plans import Plans

DOC = Path(__file__).resolve().parents[1] / "docs" / "case-rules.md"


def _rows(prefix: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in DOC.read_text(encoding="utf-8").splitlines() if re.match(prefix, line)]


def test_every_finding_code_is_in_the_table_and_every_table_code_in_the_code():
    documented = {row[0]: row[1] for row in _rows(r"\| [A-Z][A-Z_]+ \| (BLOCKING|WARNING|INFO) \|")}
    assert set(documented) == set(CATALOGUE)
    assert {code: severity.value for code, (severity, _) in CATALOGUE.items()} == documented


def test_every_finding_code_the_kinds_can_give_is_in_the_catalogue():
    source = "".join(p.read_text(encoding="utf-8") for p in
                     (Path(__file__).resolve().parents[1] / "querynode" / "core").glob("*.py"))
    used = set(re.findall(r'finding\(\s*"([A-Z_]+)"', source))
    used |= {code + "_COURT_ORDERED" for code in re.findall(r'finding\(\s*"([A-Z_]+)" \+ court_ordered', source)}
    used |= {"SPOUSE_IS_PARTY", "SPOUSE_CONSENT_NEEDED"}  # chosen by a conditional expression
    assert used <= set(CATALOGUE)
    assert set(CATALOGUE) <= used | set(re.findall(r'finding\("([A-Z_]+)"', source))


def test_the_plan_table_is_plans_yaml():
    plans = Plans.load()
    documented = {(re.search(r"`(\w+)`", row[0]).group(1), re.search(r"`(\w+)`", row[1]).group(1)):
                  ([k for k in row[2].split(", ") if not k.startswith("—")],
                   [k for k in row[3].split(", ") if not k.startswith("—")])
                  for row in _rows(r"\| `[a-z_]+` ") if len(row) == 6}
    expected = {(t, r): (rp.person, rp.organization) for t, tp in plans.types.items() for r, rp in tp.roles.items()}
    assert documented == expected
