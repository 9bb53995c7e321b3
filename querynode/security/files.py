"""Data files the node writes hold audit records, accounts and case records: owner-only."""
from __future__ import annotations

import os
from pathlib import Path


def create_private(path: Path) -> None:
    """Create `path` (and its folder, 0700) with mode 0600 before SQLite opens it, so its
    -wal and -shm files, which SQLite gives the database file's mode, are 0600 too. A file
    from an older version is narrowed to 0600, its -wal and -shm with it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if name.stat().st_mode & 0o077:
                name.chmod(0o600)
        except FileNotFoundError:
            pass
