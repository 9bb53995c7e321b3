"""Data files the node writes hold audit records, accounts and case records: owner-only."""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
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


@contextlib.asynccontextmanager
async def opening_alone(path: Path) -> AsyncIterator[None]:
    """Hold an exclusive lock on `<path>.lock` (0600) while a SQLite file is created, switched to
    WAL and migrated: worker processes starting together take turns. SQLite does not wait when
    two connections race to switch a new file to WAL; one of them gets "database is locked"."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
