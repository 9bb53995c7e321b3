"""Every admin subcommand, run from the folder where `make run` ran (the repo root), works on
the demo's data folder with no QUERYNODE_* environment; the demo's start-up text says how to
set a new clerk password once it no longer prints one."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from querynode import cli
from querynode.security.accounts import AccountStore, accounts_path
from querynode.security.field_crypto import cipher_for
from querynode.security.records import RecordSigner

ROOT = Path(__file__).resolve().parent.parent
NEW_PASSWORD = "Qn7-drill-Xk29#pLm4"


@pytest.fixture
def demo_folder(tmp_path, monkeypatch):
    """The data folder `querynode demo` leaves in the current directory, made by the demo's own
    preparation code (keys, PKI, tokens, the demo clerk), without starting the servers."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("QUERYNODE_")]:
        monkeypatch.delenv(name)
    demo = cli.prepare_demo(Path(".querynode"))
    first_password = asyncio.run(cli.create_demo_clerk(demo.settings))
    assert first_password, "the first run creates the clerk and shows its password"
    return tmp_path, demo


def run_cli(folder: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUERYNODE_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "querynode", *args], cwd=folder, input=stdin, env=env,
                          capture_output=True, text=True, timeout=60)


def test_users_passwd_on_the_demo_data_sets_a_password_the_demo_accepts(demo_folder):
    folder, demo = demo_folder
    done = run_cli(folder, "users", "passwd", "demo-clerk", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert "password of demo-clerk changed" in done.stdout

    async def login() -> str:
        store = AccountStore(accounts_path(demo.settings.data_dir), cipher_for(demo.settings))
        await store.open()
        try:
            return (await store.authenticate("demo-clerk", NEW_PASSWORD)).username
        finally:
            await store.close()

    assert asyncio.run(login()) == "demo-clerk"
    listed = run_cli(folder, "users", "list")
    assert listed.returncode == 0, listed.stderr
    assert "demo-clerk" in listed.stdout


def test_token_audit_and_record_commands_use_the_demo_data(demo_folder):
    folder, demo = demo_folder
    issued = run_cli(folder, "token", "issue", "--caller", "registry-b")
    assert issued.returncode == 0, issued.stderr
    assert str(Path(".querynode") / "secrets" / "tokens.json") in issued.stderr
    tokens = (folder / ".querynode" / "secrets" / "tokens.json").read_text(encoding="utf-8")
    assert "registry-b" in tokens and cli.DEMO_API_CALLER in tokens  # the demo's file, not a new one

    verified = run_cli(folder, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("OK: 0 records")
    assert (folder / ".querynode" / "audit.sqlite").exists()
    searched = run_cli(folder, "audit", "search", "--id-number", "11010519491231002X")  # blind index: node key
    assert searched.returncode == 0, searched.stderr
    assert "0 record(s)" in searched.stdout

    record = folder / "record.json"
    record.write_bytes(RecordSigner(demo.settings.read_node_key()).seal({"case": "2026-0001"}).to_file())
    checked = run_cli(folder, "record", "verify", str(record))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("OK:")


def test_an_explicit_node_key_still_wins_over_the_demo_folder(demo_folder, monkeypatch):
    folder, demo = demo_folder
    record = folder / "record.json"
    record.write_bytes(RecordSigner(demo.settings.read_node_key()).seal({"case": "2026-0001"}).to_file())
    env_key = "ab" * 32
    done = subprocess.run([sys.executable, "-m", "querynode", "record", "verify", str(record)], cwd=folder,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "QUERYNODE_NODE_KEY": env_key},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout.startswith("FAILED: signature")


def test_second_start_says_how_to_set_a_new_clerk_password():
    assert cli.clerk_text("Qn7-first").count("Qn7-first") == 1
    again = cli.clerk_text("")
    assert "users passwd demo-clerk" in again
    command = again[again.index("set a new one: ") + len("set a new one: "):].rstrip(")")
    assert command.split()[-3:] == ["users", "passwd", "demo-clerk"]
