"""scripts/setup, the one set-up path of `make run`, `make test` and .ci/run: it names exactly
what is missing when it cannot install, and does nothing when nothing is missing."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "setup"
# Found on PATH by the script itself (not the tools it checks for).
BASICS = ("bash", "dirname", "dpkg-query", "grep", "cat")


def restricted_path(folder: Path, *, uid: int, apt: bool = True) -> str:
    """A PATH with the basics, an `id` that reports `uid`, and none of the suite's tools."""
    folder.mkdir()
    for name in BASICS + (("apt-get",) if apt else ()):
        os.symlink(shutil.which(name), folder / name)
    fake_id = folder / "id"
    fake_id.write_text(f"#!/bin/sh\necho {uid}\n")
    fake_id.chmod(0o755)
    return str(folder)


def run_setup(purpose: str, path: str) -> subprocess.CompletedProcess:
    env = {"PATH": path, "PYTHON": str(ROOT / ".venv" / "bin" / "python"), "HOME": os.environ.get("HOME", "/")}
    return subprocess.run([shutil.which("bash"), str(SCRIPT), purpose], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("uid, apt, why", [(1000, True, "not root and no password-less sudo"),
                                           (0, False, "no apt-get on this machine")])
def test_where_it_cannot_install_it_stops_with_one_message_naming_exactly_what_to_install(tmp_path, uid, apt, why):
    done = run_setup("test", restricted_path(tmp_path / "bin", uid=uid, apt=apt))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert "cannot install" in lines[0] and why in lines[0]
    command = lines[-1].split()
    assert command[:5] == ["sudo", "apt-get", "install", "-y", "--no-install-recommends"]
    missing = set(command[5:])
    # promtool, h2load, wrk, redis-cli and psql are hidden from this PATH; Chromium and the font
    # are checked by file and by dpkg, which the PATH does not change.
    assert {"prometheus", "nghttp2-client", "wrk", "redis-tools", "postgresql-client"} <= missing
    assert missing <= {"prometheus", "nghttp2-client", "wrk", "redis-tools", "postgresql-client",
                       "chromium", "fonts-wqy-microhei", "python3-venv"}
    assert not done.stdout


def test_run_needs_none_of_the_test_tools(tmp_path):
    done = run_setup("run", restricted_path(tmp_path / "bin", uid=1000))
    assert done.returncode == 0, done.stderr
    assert "install" not in done.stdout + done.stderr


def test_nothing_missing_means_nothing_done():
    done = run_setup("test", os.environ["PATH"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


def test_make_and_ci_use_the_same_script():
    makefile = (ROOT / "Makefile").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/setup run" in makefile and "scripts/setup test" in makefile and "scripts/setup test" in ci
    assert "apt-get" not in makefile and "apt-get" not in ci
