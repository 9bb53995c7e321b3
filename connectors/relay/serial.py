"""查询请求单号 (`cxqqdh`): 8-digit date + 6-digit region + 6-digit serial that restarts each day.

The relay may refuse or confuse a number it has seen today, so the serial must be unique per day
for the whole node: across coroutines, across worker processes, and across restarts. The counter
lives in a file; a process reserves a block of numbers under an exclusive `flock`, writes the new
high-water mark and fsyncs it before handing any of them out. A restart or a crash only skips the
rest of a block; it never reuses a number. One fsync per block keeps the cost off the query path.
"""
from __future__ import annotations

import asyncio
import fcntl
import os
from datetime import datetime
from pathlib import Path
from connectors.base.errors import Unavailable
from querynode.domain.model import SHANGHAI

DAILY_LIMIT = 999_999  # six digits


class DailySerial:
    """Hands out 1, 2, 3 ... per day (Asia/Shanghai), unique for every user of the same file."""

    def __init__(self, path: str | os.PathLike, block: int = 64) -> None:
        self.path = Path(path)
        self.block = block
        self._day = ""
        self._next = 0
        self._end = 0  # first number not reserved by this process
        self._lock = asyncio.Lock()

    async def take(self, day: str) -> int:
        async with self._lock:
            if day != self._day or self._next >= self._end:
                self._next, self._end = await asyncio.to_thread(self._reserve, day)
                self._day = day
            number = self._next
            self._next += 1
            return number

    def _reserve(self, day: str) -> tuple[int, int]:
        """Move the file's mark for `day` on by one block; return the block [start, end)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            stored_day, _, stored_mark = os.read(fd, 64).decode("ascii", "replace").partition(" ")
            start = int(stored_mark) if stored_day == day and stored_mark.strip().isdigit() else 1
            if start > DAILY_LIMIT:
                raise Unavailable("relay: today's request serials are used up")
            end = min(start + self.block, DAILY_LIMIT + 1)
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, f"{day} {end}".encode("ascii"))
            os.fsync(fd)
            return start, end
        finally:
            os.close(fd)  # closing releases the lock


async def request_number(serial: DailySerial, region: str, now: datetime | None = None) -> str:
    """The 20-digit 查询请求单号 for the next call from `region` (6-digit 行政区划)."""
    day = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI).strftime("%Y%m%d")
    return f"{day}{region}{await serial.take(day):06d}"
