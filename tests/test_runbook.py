"""docs/runbook.md has one entry per alert of deploy/prometheus/alerts.yml, and no other."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def alert_names() -> list[str]:
    groups = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def runbook_alert_headings() -> list[str]:
    """The `###` headings of the runbook's "## Alerts" section."""
    text = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    section = re.search(r"^## Alerts\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "docs/runbook.md has no '## Alerts' section"
    return re.findall(r"^### (\S+)\s*$", section.group(1), re.M)


def test_every_alert_has_exactly_one_runbook_entry():
    names, headings = alert_names(), runbook_alert_headings()
    assert len(names) == len(set(names)) and len(headings) == len(set(headings))
    assert set(headings) == set(names)


def test_each_entry_says_what_it_means_how_to_confirm_what_to_do_and_how_to_recover():
    text = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    for name in alert_names():
        entry = re.search(rf"^### {name}\n(.*?)(?=^##)", text, re.S | re.M).group(1)
        for part in ("**Meaning.**", "**Confirm.**", "**Act.**", "**Recover.**"):
            assert part in entry, f"{name}: no {part}"


def test_runbook_covers_rotation_restore_and_drill_frequency():
    text = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    for heading in ("## Key and certificate rotation", "## Restoring the audit store", "## Emergency drill"):
        assert heading in text
    assert "**How often.**" in text
