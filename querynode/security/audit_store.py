"""Tamper-evident audit store: every call, who, what, when, outcome, chained with a keyed MAC.

Each record's MAC (HMAC-SHA256, or HMAC-SM3 with `security.blind_index: sm3`) covers the
previous record's MAC and the record's canonical JSON, under a key derived from the node key
(HKDF): the key is never in the database, so whoever can write the database cannot edit,
insert, delete or re-chain records without `verify` naming the first one that does not hold.
Purge anchors carry the same MAC. The store regularly writes a checkpoint (head seq and MAC,
anchors, time; MAC'd) to a witness: an append-only file outside the database
(`audit.witness_file`, mode 0600, fsynced). `verify` checks the chain against every checkpoint,
so a cut tail or a wholesale replacement of the store is named too. Records hold no personal
data in clear: the subject is found by a blind index, and shown (history) only masked.

Stores from before keyed chains: their plain SHA-256 records (and unsigned anchors over them)
still verify as the chain's first part; the first keyed record covers their last hash, and
the first checkpoint pins their anchors, so from then on they cannot be changed unseen either.

Retention (`purge`): every record older than a cutoff is first exported to a JSON Lines file
(fsynced, mode 0600, checked after writing), then one transaction appends an anchor (the seq
range, the hash of the last exported record, the file's name and SHA-256) and deletes exactly
the anchored records. Triggers refuse every other UPDATE, DELETE and TRUNCATE, and anchors
themselves are append-only. `verify_chain` starts from the latest anchor's hash, and the
anchors must link to each other from the genesis hash; `verify_export` checks a file.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import queue
import re
import secrets
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import asdict, astuple, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from querynode.security.files import create_private, opening_alone

GENESIS = "0" * 64
log = logging.getLogger("querynode.audit")


@dataclass(frozen=True)
class AuditRecord:
    audit_id: str
    at: str  # ISO 8601 UTC
    request_id: str
    caller: str
    operator_id: str
    case_number: str
    purpose: str
    operation: str
    department: str
    subject_index: str
    outcome: str
    latency_ms: float
    # Space-separated marks such as "abuse:subjects_outside_cases" (querynode/security/abuse.py).
    flags: str = ""
    source: str = ""  # the caller's network address (IP), as the door saw it
    # Who was asked about, masked as the operation's form heads it (张**　110105********1234):
    # what the history page shows; never clear text (the blind index is what finds a person).
    subject: str = ""

    def canonical(self) -> bytes:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}  # flat: no deep copy as asdict makes
        for name in ("flags", "source", "subject"):
            if not data[name]:
                del data[name]  # records written before the field existed keep their hashes
        return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def chain_hash(prev_hash: str, record: AuditRecord) -> str:
    """The unkeyed link of records written before keyed chains (verified, never written)."""
    return hashlib.sha256(prev_hash.encode() + record.canonical()).hexdigest()


def is_keyed(digest: str) -> bool:
    return ":" in digest


class ChainKey:
    """The audit MAC key, derived from the node key (HKDF-SHA256); it is never stored with the
    audit. MACs read `hmac-sha256:<hex>` or `hmac-sm3:<hex>`; one names its algorithm, so a
    store written under one profile still verifies under the other."""

    SCHEMES = {"hmac-sha256": "sha256", "hmac-sm3": "sm3"}

    def __init__(self, node_key: bytes, algorithm: str = "sha256") -> None:
        if f"hmac-{algorithm}" not in self.SCHEMES:
            raise ValueError(f"unknown audit MAC algorithm {algorithm!r}")
        self.scheme = f"hmac-{algorithm}"
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                         info=b"querynode audit chain v1").derive(node_key)

    def mac(self, kind: bytes, data: bytes, scheme: str | None = None) -> str:
        scheme = scheme or self.scheme
        digest = hmac.new(self._key, kind + b"\0" + data, self.SCHEMES[scheme]).hexdigest()
        return f"{scheme}:{digest}"

    def check(self, kind: bytes, data: bytes, expected: str) -> bool:
        scheme = expected.partition(":")[0]
        return scheme in self.SCHEMES and hmac.compare_digest(self.mac(kind, data, scheme), expected)

    def link(self, prev: str, record: AuditRecord) -> str:
        return self.mac(b"record", prev.encode() + b"\0" + record.canonical())

    def link_holds(self, prev: str, record: AuditRecord, digest: str) -> bool:
        return self.check(b"record", prev.encode() + b"\0" + record.canonical(), digest)


def key_for(settings) -> ChainKey:
    """The audit MAC key `querynode.config.Settings` describes (node key; SM3 under 国密)."""
    return ChainKey(settings.read_node_key(), settings.security.blind_index)


@dataclass(frozen=True)
class Anchor:
    """One purge: records from_seq..through_seq went to export_file, then were deleted."""

    from_seq: int
    through_seq: int
    prev_hash: str  # the link before from_seq: the previous anchor's last_hash, or GENESIS
    last_hash: str  # hash of record through_seq: the first remaining record's prev_hash
    records: int
    export_file: str
    export_sha256: str
    at: str  # when the purge ran (ISO 8601 UTC)
    mac: str = ""  # the audit key's MAC over the fields above ("": written before keyed chains)

    def body(self) -> bytes:
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "mac"}
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    def signed(self, key: ChainKey) -> "Anchor":
        return replace(self, mac=key.mac(b"anchor", self.body()))


@dataclass(frozen=True)
class Checkpoint:
    """What the witness keeps: the chain's head (seq and MAC), the anchors so far, when."""

    seq: int
    head: str
    anchors: int
    anchors_digest: str
    at: str
    mac: str = ""

    def body(self) -> bytes:
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "mac"}
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def anchors_digest(anchors: Sequence[Anchor]) -> str:
    digest = hashlib.sha256()
    for anchor in anchors:
        digest.update(json.dumps(astuple(anchor), separators=(",", ":")).encode() + b"\n")
    return digest.hexdigest()


class WitnessInvalid(Exception):
    """The witness file cannot be read, or holds a line that is not a checkpoint of this key."""


class Witness:
    """Checkpoints in an append-only JSON Lines file outside the audit database (another
    volume, by configuration): each line MAC'd with the audit key, appended with O_APPEND
    in one write and fsynced; the file is created with mode 0600."""

    def __init__(self, path: Path | str, key: ChainKey) -> None:
        self.path = Path(path)
        self.key = key

    def append(self, checkpoint: Checkpoint) -> Checkpoint:
        checkpoint = replace(checkpoint, mac=self.key.mac(b"checkpoint", checkpoint.body()))
        line = json.dumps(asdict(checkpoint), sort_keys=True, separators=(",", ":")).encode() + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.path.parent)
        return checkpoint

    def read(self) -> list[Checkpoint]:
        """Every checkpoint, oldest first; WitnessInvalid names a line that does not verify."""
        try:
            with open(self.path, "rb") as fh:
                lines = fh.read().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise WitnessInvalid(f"cannot read the witness {self.path}: {exc.strerror}") from exc
        checkpoints = []
        for number, line in enumerate(lines, 1):
            try:
                checkpoint = Checkpoint(**json.loads(line))
                intact = self.key.check(b"checkpoint", checkpoint.body(), checkpoint.mac)
            except (ValueError, TypeError):
                intact = False
            if not intact:
                raise WitnessInvalid(f"witness {self.path} line {number} is not a checkpoint signed with this "
                                     "node's audit key")
            checkpoints.append(checkpoint)
        return checkpoints


@dataclass(frozen=True)
class Verdict:
    """What `verify` found. `problem` is empty when the chain holds; `broken_seq` names the
    first record (or purged range, or checkpointed record) that does not."""

    problem: str
    broken_seq: int | None
    records: int
    head_seq: int
    head: str
    checkpoint: Checkpoint | None
    legacy_records: int  # plain SHA-256 records from before keyed chains
    intents: int = 0  # intent records (written before a department was asked), not in `records`

    @property
    def ok(self) -> bool:
        return not self.problem


class PurgeRefused(Exception):
    """A purge that deleted nothing; the message says why (it names no person)."""


class ExportInvalid(Exception):
    """An export file that is unreadable, broken or does not match its anchor."""


_FIELDS = [f for f in AuditRecord.__dataclass_fields__]
_ANCHOR_FIELDS = [f for f in Anchor.__dataclass_fields__]
_EXPORT_KEYS = {"seq", *_FIELDS, "prev_hash", "hash"}
# Exports from before records carried the source, and the masked subject.
_OLDER_EXPORT_KEYS = (_EXPORT_KEYS - {"source", "subject"}, _EXPORT_KEYS - {"subject"})


class _ChainStore:
    """What both stores share: the MAC key, verification from the latest anchor and against
    the witness, purge with export, checkpoints.

    A store provides `anchors()`, `_rows(through_seq)` (seq, *fields, prev_hash, hash in seq
    order), `_position()` (head seq and MAC, anchors, read together), `_purge_bound(cutoff)`
    and `_delete_anchored(anchor, anchors_before)`."""

    key: ChainKey
    witness: Witness | None
    checkpoint_seconds: float
    _checkpointed: tuple | None = None
    _checkpoint_task: asyncio.Task | None = None

    async def _run_on_close(self) -> None:
        hooks, self.on_close = self.on_close, []
        for hook in hooks:
            try:
                await hook()
            except Exception as exc:  # noqa: BLE001 - closing goes on
                log.error("audit close hook failed", extra={"error": type(exc).__name__})

    async def _write_batch(self, batch: list[tuple[AuditRecord, asyncio.Future]]) -> None:
        """Commit a group of records in one transaction, each waiter told when its record is
        durable. A record that cannot be stored (text that cannot be encoded, say) fails its
        own waiter only: it is refused before the transaction, and if the transaction still
        fails, each record is retried alone; when the store itself is down (the first
        `_GIVE_UP` retries fail, none succeeds), the rest fail with it."""
        storable = []
        for record, waiter in batch:
            if (problem := unstorable(record)) is not None:
                _settle(waiter, problem)
            else:
                storable.append((record, waiter))
        if not storable:
            return
        try:
            await self._commit([record for record, _ in storable])
        except Exception as exc:  # noqa: BLE001 - retried alone below, or every waiter learns it
            if len(storable) == 1:
                _settle(storable[0][1], exc)
                return
            log.warning("audit group commit failed; writing its records one by one",
                        extra={"error": type(exc).__name__})
            await self._write_one_by_one(storable, exc)
            return
        for _, waiter in storable:
            _settle(waiter)

    async def _write_one_by_one(self, batch: list[tuple[AuditRecord, asyncio.Future]], exc: Exception) -> None:
        failures = successes = 0
        for record, waiter in batch:
            if failures >= _GIVE_UP and not successes:
                _settle(waiter, exc)
                continue
            try:
                await self._commit([record])
            except Exception as one:  # noqa: BLE001 - this record's waiter learns it
                failures, exc = failures + 1, one
                _settle(waiter, one)
            else:
                successes += 1
                _settle(waiter)

    async def verify_chain(self) -> int | None:
        """The seq of the first record that does not hold, or None when the chain holds."""
        verdict = await self.verify()
        return None if verdict.ok else verdict.broken_seq

    async def verify(self) -> Verdict:
        """Check the anchors (linked, MAC'd or pinned by the witness), every kept record's link
        and MAC from the latest anchor, and every witness checkpoint (its record still there
        with the same MAC, or purged under an anchor). Raises WitnessInvalid for a forged or
        unreadable witness."""
        checkpoints = self.witness.read() if self.witness is not None else []
        latest = checkpoints[-1] if checkpoints else None
        verdict = None
        for _ in range(2):  # a purge ran between reading the anchors and the rows: read again
            anchors = await self.anchors()
            verdict = await self._verify_once(anchors, checkpoints, latest)
            if verdict.ok or await self.anchors() == anchors:
                return verdict
        return verdict

    async def _verify_once(self, anchors: list[Anchor], checkpoints: list[Checkpoint],
                           latest: Checkpoint | None) -> Verdict:
        def failed(problem: str, seq: int | None, records: int = 0, legacy: int = 0) -> Verdict:
            return Verdict(problem, seq, records, 0, "", latest, legacy)

        pinned = latest.anchors if latest else 0
        if latest and (len(anchors) < pinned or anchors_digest(anchors[:pinned]) != latest.anchors_digest):
            first = anchors[min(pinned, len(anchors)) - 1].from_seq if anchors else latest.seq
            return failed(f"the purge anchors differ from those the witness recorded at {latest.at}", first)
        if (bad := broken_anchor(anchors, self.key, pinned)) is not None:
            return failed(f"the purge anchor from record seq {bad} does not link or is not signed by this node", bad)
        start, after = (anchors[-1].last_hash, anchors[-1].through_seq) if anchors else (GENESIS, 0)
        wanted = {cp.seq: cp.head for cp in checkpoints if cp.seq > after}
        seen: dict[int, str] = {}
        walk = _Walk(self.key, start, after, wanted, seen)
        async with aclosing(self._rows()) as rows:
            async for row in rows:
                if (bad := walk.step(row)) is not None:
                    return failed(f"the chain breaks at record seq {bad} (changed, inserted, re-chained, the "
                                  "one after a deleted record, or one a purge anchor covers)", bad,
                                  walk.count, walk.legacy)
        head_seq, head = walk.head_seq or after, walk.prev
        for cp in checkpoints:
            if cp.seq <= after:  # purged since: an anchor that ends there must end with its MAC
                ends = next((a for a in anchors if a.through_seq == cp.seq), None)
                if ends is not None and ends.last_hash != cp.head:
                    return failed(f"the purge anchor through seq {cp.seq} differs from the witness "
                                  f"checkpoint of {cp.at}", cp.seq, walk.count, walk.legacy)
            elif seen.get(cp.seq) != cp.head:
                what = "is missing (cut off)" if cp.seq not in seen else "differs"
                return failed(f"record seq {cp.seq} {what}: the witness checkpoint of {cp.at} recorded it "
                              f"as the head", cp.seq, walk.count, walk.legacy)
        return Verdict("", None, walk.count, head_seq, head, latest, walk.legacy, walk.intents)

    async def checkpoint(self, *, force: bool = False) -> Checkpoint | None:
        """Write the head (seq, MAC) and the anchors to the witness, unless nothing changed
        since this store's last checkpoint. None without a witness."""
        if self.witness is None:
            return None
        seq, head, anchors = await self._position()
        position = (seq, head, len(anchors))
        if position == self._checkpointed and not force:
            return None
        checkpoint = Checkpoint(seq=seq, head=head, anchors=len(anchors), anchors_digest=anchors_digest(anchors),
                                at=datetime.now(UTC).isoformat())
        checkpoint = await asyncio.to_thread(self.witness.append, checkpoint)
        self._checkpointed = position
        return checkpoint

    def _start_checkpoints(self) -> None:
        if self.witness is not None and self.checkpoint_seconds > 0:
            self._checkpoint_task = asyncio.create_task(self._checkpoint_loop())

    async def _checkpoint_loop(self) -> None:
        while True:
            try:
                await self.checkpoint()
            except Exception as exc:  # noqa: BLE001 - retried next period; the alert is the log line
                log.error("audit checkpoint not written", extra={"error": type(exc).__name__})
            await asyncio.sleep(self.checkpoint_seconds)

    async def _stop_checkpoints(self) -> None:
        """Stop the timer and write a last checkpoint (the head as the store closes)."""
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint_task
            self._checkpoint_task = None
            try:
                await self.checkpoint()
            except Exception as exc:  # noqa: BLE001 - closing goes on; the log says what is missing
                log.error("audit checkpoint not written at close", extra={"error": type(exc).__name__})

    async def purge(self, before: datetime, export_dir: Path) -> Anchor | None:
        """Export the records older than `before` (a prefix of the chain: it stops at the first
        record that is not older), then delete them under a new signed anchor and write a
        checkpoint. None: nothing to purge. Raises PurgeRefused, having deleted nothing, when
        the export cannot be written or checked, the records to purge do not hold, or another
        purge ran meanwhile."""
        if before.tzinfo is None:
            raise ValueError("the purge cutoff must be timezone-aware")
        anchors = await self.anchors()
        if (bad := broken_anchor(anchors, self.key, len(anchors))) is not None:
            raise PurgeRefused(f"the chain breaks at record seq {bad}; nothing purged")
        through = await self._purge_bound(before.astimezone(UTC).isoformat())
        if through is None:
            return None
        start = anchors[-1].last_hash if anchors else GENESIS
        async with aclosing(self._rows(through)) as rows:
            anchor = await write_export(rows, Path(export_dir), start, self.key)
        await self._delete_anchored(anchor, len(anchors))
        await self.checkpoint()
        return anchor

    async def latest_anchor(self) -> Anchor | None:
        anchors = await self.anchors()
        return anchors[-1] if anchors else None


_GIVE_UP = 3  # records retried alone that fail, with none succeeding, before the store counts as down


class Unstorable(ValueError):
    """An audit record whose text cannot be stored (no personal data in the message)."""


def unstorable(record: AuditRecord) -> Unstorable | None:
    """Why a record cannot be stored, or None: its text must encode as UTF-8 (no lone
    surrogates) and hold no NUL (PostgreSQL text cannot)."""
    for name in _FIELDS:
        value = getattr(record, name)
        if isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                return Unstorable(f"audit field {name} is not valid Unicode text")
            if "\0" in value:
                return Unstorable(f"audit field {name} holds a NUL character")
    return None


def _settle(waiter: asyncio.Future, exc: BaseException | None = None, result=None) -> None:
    """Tell a waiter its outcome, unless it stopped waiting (its caller was cancelled)."""
    if not waiter.done():
        if exc is None:
            waiter.set_result(result)
        else:
            waiter.set_exception(exc)


def broken_anchor(anchors: Sequence[Anchor], key: ChainKey, pinned: int = 0) -> int | None:
    """Anchors must cover consecutive ranges linked from the genesis hash, each MAC'd with
    the audit key; an unsigned one (from before keyed chains) only over unkeyed records and
    among the first `pinned` (those a witness checkpoint recorded). The from_seq of the first
    that does not hold, else None."""
    prev_hash, prev_through = GENESIS, 0
    for number, anchor in enumerate(anchors):
        if anchor.mac:
            signed = key.check(b"anchor", anchor.body(), anchor.mac)
        else:
            signed = number < pinned and not is_keyed(anchor.last_hash)
        if (not signed or anchor.prev_hash != prev_hash or anchor.from_seq <= prev_through
                or anchor.through_seq < anchor.from_seq):
            return anchor.from_seq
        prev_hash, prev_through = anchor.last_hash, anchor.through_seq
    return None


class _Walk:
    """Walks (seq, *fields, prev_hash, hash) rows in seq order from `start` (the genesis hash or
    the latest anchor's). A record holds when its seq is past `after`, it links to the one
    before and its MAC is the key's over that link and its content; plain SHA-256 records
    (from before keyed chains) hold only before the first keyed one."""

    def __init__(self, key: ChainKey, start: str, after: int, wanted: dict[int, str] | None = None,
                 seen: dict[int, str] | None = None) -> None:
        self.key, self.prev, self.after = key, start, after
        self.keyed = is_keyed(start)
        self.wanted, self.seen = wanted or {}, seen if seen is not None else {}
        self.count = self.legacy = self.intents = self.head_seq = 0

    def step(self, row: tuple) -> int | None:
        seq, values, prev_hash, digest = row[0], row[1:-2], row[-2], row[-1]
        record = AuditRecord(*values)
        if seq <= self.after or seq <= self.head_seq or prev_hash != self.prev:
            return seq
        if is_keyed(digest):
            holds = self.key.link_holds(self.prev, record, digest)
            self.keyed = True
        else:
            holds = not self.keyed and chain_hash(self.prev, record) == digest
            self.legacy += holds
        if not holds:
            return seq
        if seq in self.wanted:
            self.seen[seq] = digest
        self.prev, self.head_seq = digest, seq
        if record.outcome == INTENT:
            self.intents += 1
        else:
            self.count += 1
        return None


async def first_broken(rows, key: ChainKey, start: str = GENESIS, after: int = 0) -> int | None:
    """The seq of the first row that does not hold (see _Walk), or None."""
    walk = _Walk(key, start, after)
    async for row in rows:
        if (bad := walk.step(row)) is not None:
            return bad
    return None


# ------------------------------------------------------------------ export files


async def write_export(rows: AsyncIterator[tuple], export_dir: Path, start: str, key: ChainKey) -> Anchor:
    """Write the rows to a new JSON Lines file in export_dir (mode 0600, fsynced, checked after
    writing), one record per line with seq, prev_hash and hash; the anchor that describes it.
    The name holds the seq and date range and the purge time."""
    purged_at = datetime.now(UTC)
    try:
        export_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = export_dir / f".audit-export-{secrets.token_hex(8)}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise PurgeRefused(f"cannot write the export in {export_dir}: {exc.strerror}; nothing purged") from exc
    digest, prev, count, first, last = hashlib.sha256(), start, 0, None, None
    walk = _Walk(key, start, 0)
    try:
        with os.fdopen(fd, "wb") as fh:
            lines = []
            async for row in rows:
                seq, values, prev_hash, row_hash = row[0], row[1:-2], row[-2], row[-1]
                record = AuditRecord(*values)
                if walk.step(row) is not None:
                    raise PurgeRefused(f"the chain breaks at record seq {seq}; nothing purged")
                line = json.dumps({"seq": seq, **asdict(record), "prev_hash": prev_hash, "hash": row_hash},
                                  ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                digest.update(line)
                lines.append(line)
                if len(lines) >= 1000:
                    await asyncio.to_thread(fh.writelines, lines)
                    lines = []
                first = first or (seq, record.at)
                last, prev, count = (seq, record.at), row_hash, count + 1
            await asyncio.to_thread(fh.writelines, lines)
            fh.flush()
            await asyncio.to_thread(os.fsync, fh.fileno())
        if count == 0:
            raise PurgeRefused("no record to export; nothing purged")
        name = (f"audit-seq{first[0]}-{last[0]}_{_day(first[1])}-{_day(last[1])}"
                f"_purged{purged_at:%Y%m%dT%H%M%SZ}.jsonl")
        final = export_dir / name
        os.link(partial, final)  # never replaces an existing file
        partial.unlink()
        await asyncio.to_thread(_fsync_dir, export_dir)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise PurgeRefused(f"cannot write the export in {export_dir}: {exc.strerror}; nothing purged") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    anchor = Anchor(from_seq=first[0], through_seq=last[0], prev_hash=start, last_hash=prev, records=count,
                    export_file=name, export_sha256=digest.hexdigest(), at=purged_at.isoformat()).signed(key)
    try:  # read back what the disk holds before anything is deleted
        await asyncio.to_thread(verify_export, final, [anchor], key)
    except ExportInvalid as exc:
        raise PurgeRefused(f"the export does not read back intact ({exc}); nothing purged") from exc
    return anchor


def _day(at: str) -> str:
    return at[:10].replace("-", "")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify_export(path: Path, anchors: Sequence[Anchor], key: ChainKey) -> str:
    """Check an export file on its own (each record links to the one before and its MAC
    matches its content) and against its anchor (same range, first link, last hash, count and
    SHA-256). Return a one-line summary; raise ExportInvalid naming what is wrong. Reads the
    file line by line (exports may be large)."""
    sha256, first, last, count, walk = hashlib.sha256(), None, None, 0, None
    try:
        with open(path, "rb") as fh:
            for count, line in enumerate(fh, 1):
                sha256.update(line)
                item = _export_record(line, count)
                seq = item["seq"]
                walk = walk or _Walk(key, item["prev_hash"], 0)
                try:
                    intact = (isinstance(seq, int) and isinstance(item["prev_hash"], str)
                              and isinstance(item["hash"], str)
                              and walk.step((seq, *(item[f] for f in _FIELDS), item["prev_hash"], item["hash"])) is None)
                except (TypeError, AttributeError):
                    intact = False
                if not intact:
                    raise ExportInvalid(f"the exported chain breaks at record seq {seq}")
                first, last = first or item, item
    except OSError as exc:
        raise ExportInvalid(f"cannot read {path}: {exc.strerror}") from exc
    if first is None:
        raise ExportInvalid("the file holds no record")
    anchor = next((a for a in anchors if (a.from_seq, a.through_seq) == (first["seq"], last["seq"])), None)
    if anchor is None:
        raise ExportInvalid(f"no anchor in the audit store covers seq {first['seq']}-{last['seq']}")
    if not (key.check(b"anchor", anchor.body(), anchor.mac) if anchor.mac else not is_keyed(anchor.last_hash)):
        raise ExportInvalid(f"the anchor of seq {anchor.from_seq}-{anchor.through_seq} is not signed by this node")
    for what, found, expected in (("first link", first["prev_hash"], anchor.prev_hash),
                                  ("last hash", last["hash"], anchor.last_hash),
                                  ("record count", count, anchor.records),
                                  ("SHA-256", sha256.hexdigest(), anchor.export_sha256)):
        if found != expected:
            raise ExportInvalid(f"the file's {what} differs from its anchor's ({found} != {expected})")
    return (f"OK: {count} exported records, seq {anchor.from_seq}-{anchor.through_seq}, chain intact; "
            f"last hash {anchor.last_hash} = anchor of {anchor.at}; sha256 {anchor.export_sha256}")


def _export_record(line: bytes, number: int) -> dict:
    try:
        item = json.loads(line)
    except ValueError:
        item = None
    if not isinstance(item, dict) or set(item) not in (_EXPORT_KEYS, *_OLDER_EXPORT_KEYS):
        raise ExportInvalid(f"line {number} is not an exported audit record")
    item.setdefault("source", "")
    item.setdefault("subject", "")
    return item


# ----------------------------------------------------------------------- SQLite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    audit_id TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    request_id TEXT NOT NULL,
    caller TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    case_number TEXT NOT NULL,
    purpose TEXT NOT NULL,
    operation TEXT NOT NULL,
    department TEXT NOT NULL,
    subject_index TEXT NOT NULL,
    outcome TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    flags TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_case ON audit(case_number);
CREATE INDEX IF NOT EXISTS audit_subject ON audit(subject_index);
CREATE TABLE IF NOT EXISTS audit_anchor (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    from_seq INTEGER NOT NULL,
    through_seq INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    last_hash TEXT NOT NULL,
    records INTEGER NOT NULL,
    export_file TEXT NOT NULL,
    export_sha256 TEXT NOT NULL,
    at TEXT NOT NULL,
    mac TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
DROP TRIGGER IF EXISTS audit_no_delete;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
WHEN OLD.seq > (SELECT coalesce(max(through_seq), 0) FROM audit_anchor)
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_anchor_no_update BEFORE UPDATE ON audit_anchor
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_anchor_no_delete BEFORE DELETE ON audit_anchor
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
"""


class SqliteAuditStore(_ChainStore):
    """Audit records in one SQLite file (WAL, synchronous=FULL: fsynced before return; the
    file and its WAL mode 0600)."""

    def __init__(self, path: Path | str, key: ChainKey, *, witness: Witness | None = None,
                 checkpoint_seconds: float = 60.0) -> None:
        self.path = Path(path)
        self.key = key
        self.witness = witness
        self.checkpoint_seconds = checkpoint_seconds
        self.on_close: list = []  # coroutine functions awaited first when the store closes
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._pending: list[tuple[AuditRecord, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None
        # Appends go to their own connection on one dedicated thread: a group commit (lock,
        # chain head, MACs, insert, commit + fsync) is one hop there and one back, not the
        # half-dozen an aiosqlite call per statement costs; reads and purges keep aiosqlite.
        self._append_thread: _OneThread | None = None
        self._append_db: sqlite3.Connection | None = None

    async def open(self) -> None:
        async with opening_alone(self.path):  # workers starting together take turns
            try:
                create_private(self.path)
                self._db = await aiosqlite.connect(self.path)
                await self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
                # One write transaction: a file from before anchors and flags is migrated in place.
                await self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
                for table, column in (("audit", "flags"), ("audit", "source"), ("audit", "subject"),
                                      ("audit_anchor", "mac")):
                    async with self._db.execute(f"PRAGMA table_info({table})") as cur:
                        columns = {row[1] async for row in cur}
                    if column not in columns:
                        try:
                            await self._db.execute(
                                f"ALTER TABLE {table} ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
                            await self._db.commit()
                        except sqlite3.OperationalError as exc:  # another process migrated it first
                            if "duplicate column" not in str(exc):
                                raise
                self._append_thread = _OneThread("audit-append")
                self._append_db = await self._on_append_thread(_append_connection, self.path)
                self._start_checkpoints()
            except BaseException:
                await self.close()  # aiosqlite's thread would keep the process from exiting
                raise

    async def close(self) -> None:
        await self._run_on_close()
        if self._writer is not None:
            await self._writer  # what was accepted is written before the file closes
        if self._db is not None:
            await self._stop_checkpoints()
            await self._db.close()
            self._db = None
        if self._append_thread is not None:
            if self._append_db is not None:
                await self._on_append_thread(self._append_db.close)
                self._append_db = None
            self._append_thread.stop()
            self._append_thread = None

    async def append(self, record: AuditRecord) -> None:
        """Return once the record is committed and fsynced. Records that arrive while a commit
        is under way go into the next one together (group commit): one fsync for many calls."""
        if self._db is None:
            raise RuntimeError("audit store is not open")
        done = asyncio.get_running_loop().create_future()
        self._pending.append((record, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_pending())
        await done

    async def _write_pending(self) -> None:
        async with self._lock:
            while self._pending and self._db is not None:
                batch, self._pending = self._pending, []
                await self._write_batch(batch)

    async def _commit(self, records: list[AuditRecord]) -> None:
        """One write transaction on the append thread (one hop there and back per group)."""
        await self._on_append_thread(self._commit_now, records)

    def _commit_now(self, records: list[AuditRecord]) -> None:
        """On the append thread: take the write lock, read the chain head, append the records
        linked to it, commit (fsynced). Other processes (workers, nodes) may append to the same
        file: the lock comes first, so no two appends link to one head."""
        db = self._append_db
        assert db is not None
        try:
            db.execute("BEGIN IMMEDIATE")
            last = db.execute(_HEAD).fetchone()[0] or GENESIS
            rows = []
            for record in records:
                digest = self.key.link(last, record)
                rows.append([getattr(record, f) for f in _FIELDS] + [last, digest])
                last = digest
            db.executemany(_INSERT, rows)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                with contextlib.suppress(Exception):  # the connection itself may be the problem
                    db.execute("ROLLBACK")
            raise

    async def _on_append_thread(self, fn, *args):
        assert self._append_thread is not None
        return await self._append_thread.run(fn, *args)

    async def writable(self) -> bool:
        if self._db is None:
            return False
        try:
            await self._db.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means not writable
            return False

    async def records(self, *, case_number: str | None = None, subject: str | None = None,
                      flagged: bool = False, limit: int | None = None, all_kinds: bool = False) -> list[AuditRecord]:
        """Records of lookups in chain order, optionally those of one case, naming one subject
        digest, or flagged; with `all_kinds`, the intent records written before departments were
        asked (their audit id is the lookup's + "-intent"), logins and refusal summaries too."""
        assert self._db is not None
        where, params = _filters(case_number, subject, flagged, "?", all_kinds)
        query = f"SELECT {', '.join(_FIELDS)} FROM audit{where} ORDER BY seq"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        async with self._db.execute(query, params) as cur:
            return [AuditRecord(*row) async for row in cur]

    async def head(self) -> tuple[int, str]:
        """Number of records kept and the hash of the last one (record it elsewhere to detect a
        cut tail); after a purge of every record, the latest anchor's hash."""
        assert self._db is not None
        async with self._db.execute(
                "SELECT count(*), coalesce((SELECT hash FROM audit ORDER BY seq DESC LIMIT 1), "
                "(SELECT last_hash FROM audit_anchor ORDER BY id DESC LIMIT 1)) FROM audit") as cur:
            count, last = await cur.fetchone()
        return count, last or GENESIS

    async def anchors(self) -> list[Anchor]:
        assert self._db is not None
        async with self._db.execute(f"SELECT {', '.join(_ANCHOR_FIELDS)} FROM audit_anchor ORDER BY id") as cur:
            return [Anchor(*row) async for row in cur]

    async def _position(self) -> tuple[int, str, list[Anchor]]:
        """Head seq and MAC and the anchors, in one read transaction."""
        assert self._db is not None
        async with self._lock:
            await self._db.execute("BEGIN")
            try:
                row = await self._fetchone("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
                anchors = await self.anchors()
            finally:
                await _rollback_quietly(self._db)
        return _position(row, anchors)

    async def _rows(self, through_seq: int | None = None):
        assert self._db is not None
        query = f"SELECT seq, {', '.join(_FIELDS)}, prev_hash, hash FROM audit"
        params: tuple = ()
        if through_seq is not None:
            query, params = query + " WHERE seq <= ?", (through_seq,)
        async with self._db.execute(query + " ORDER BY seq", params) as cur:
            async for row in cur:
                yield tuple(row)

    async def _fetchone(self, query: str, *params):
        async with self._db.execute(query, params) as cur:
            return await cur.fetchone()

    async def _purge_bound(self, cutoff: str) -> int | None:
        (first_kept,) = await self._fetchone("SELECT min(seq) FROM audit WHERE at >= ?", cutoff)
        if first_kept is None:
            (through,) = await self._fetchone("SELECT max(seq) FROM audit")
        else:
            (through,) = await self._fetchone("SELECT max(seq) FROM audit WHERE seq < ?", first_kept)
        return through

    async def _delete_anchored(self, anchor: Anchor, anchors_before: int) -> None:
        assert self._db is not None
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")  # blocks other writers (other processes too)
            try:
                (count,) = await self._fetchone("SELECT count(*) FROM audit_anchor")
                last = await self._fetchone("SELECT hash FROM audit WHERE seq = ?", anchor.through_seq)
                _check_unchanged(anchor, count, anchors_before, last and last[0])
                await self._db.execute(
                    f"INSERT INTO audit_anchor ({', '.join(_ANCHOR_FIELDS)}) "
                    f"VALUES ({', '.join('?' * len(_ANCHOR_FIELDS))})", astuple(anchor))
                async with self._db.execute("DELETE FROM audit WHERE seq <= ?", (anchor.through_seq,)) as cur:
                    _check_deleted(anchor, cur.rowcount)
                await self._db.commit()
            except BaseException:
                await _rollback_quietly(self._db)
                raise


def _position(row, anchors: list[Anchor]) -> tuple[int, str, list[Anchor]]:
    if row is not None:
        return row[0], row[1], anchors
    if anchors:
        return anchors[-1].through_seq, anchors[-1].last_hash, anchors
    return 0, GENESIS, anchors


def _check_unchanged(anchor: Anchor, anchors_now: int, anchors_before: int, last_hash: str | None) -> None:
    if anchors_now != anchors_before:
        raise PurgeRefused("another purge ran meanwhile; nothing purged by this one (its export can be deleted)")
    if last_hash != anchor.last_hash:
        raise PurgeRefused(f"record seq {anchor.through_seq} changed during the export; nothing purged")


def _check_deleted(anchor: Anchor, deleted: int) -> None:
    if deleted != anchor.records:
        raise PurgeRefused(f"{deleted} records to delete, {anchor.records} exported; nothing purged")


_HEAD = ("SELECT coalesce((SELECT hash FROM audit ORDER BY seq DESC LIMIT 1), "
         "(SELECT last_hash FROM audit_anchor ORDER BY id DESC LIMIT 1))")
_INSERT = f"INSERT INTO audit ({', '.join(_FIELDS)}, prev_hash, hash) VALUES ({', '.join('?' * (len(_FIELDS) + 2))})"


class _OneThread:
    """One thread running the functions handed to it, in order; the caller awaits the result.
    The result comes back with one `call_soon_threadsafe`: `run_in_executor` chains a
    concurrent.futures future to an asyncio one, which cost the loop about 30 µs more per hop
    (80 against 47 µs, measured here). A daemon thread: `stop` ends it; a store never closed
    does not keep the process from exiting (its last commit then never returned, so no answer
    went out on it)."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn, args = job
            try:
                result, exc = fn(*args), None
            except BaseException as failure:  # noqa: BLE001 - the caller raises it
                result, exc = None, failure
            try:
                loop.call_soon_threadsafe(_settle, future, exc, result)
            except RuntimeError:  # the loop is closed: nobody awaits the outcome any more
                pass

    async def run(self, fn, *args):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((loop, future, fn, args))
        return await future

    def stop(self) -> None:
        """Run what was handed over, then end the thread."""
        self._jobs.put(None)
        self._thread.join()


def _append_connection(path: Path) -> sqlite3.Connection:
    """The appending connection (opened on the append thread, used only there): transactions
    begun explicitly, and every commit fsynced (synchronous is a per-connection setting)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA synchronous=FULL")
    return db


async def _rollback_quietly(db: aiosqlite.Connection) -> None:
    try:
        await db.rollback()
    except Exception:  # noqa: BLE001 - the connection itself may be the problem
        pass


INTENT = "INTENT"  # the outcome of a record written before a department is asked (core/hub.py)
# Operations of records the doors write about no lookup: login attempts, and the per-source,
# per-minute summaries of refused unauthenticated calls (core/audit.py).
DOOR_OPERATIONS = ("Login", "(refused calls)")


def _filters(case_number: str | None, subject: str | None, flagged: bool, placeholder: str,
             all_kinds: bool = False) -> tuple[str, tuple]:
    clauses, params = [], []
    if not all_kinds:
        doors = ", ".join(f"'{op}'" for op in DOOR_OPERATIONS)
        clauses.append(f"outcome <> '{INTENT}' AND operation NOT IN ({doors})")

    def mark() -> str:
        return placeholder if placeholder == "?" else f"${len(params)}"

    if case_number is not None:
        params.append(case_number)
        clauses.append(f"case_number = {mark()}")
    if subject is not None:
        # subject_index is space separated digests; match one whole digest.
        params.append(f"% {subject} %")
        clauses.append(f"(' ' || subject_index || ' ') LIKE {mark()}")
    if flagged:
        clauses.append("flags <> ''")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


# ------------------------------------------------------------------- PostgreSQL

_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS {t} (
    seq BIGSERIAL PRIMARY KEY,
    audit_id TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    request_id TEXT NOT NULL,
    caller TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    case_number TEXT NOT NULL,
    purpose TEXT NOT NULL,
    operation TEXT NOT NULL,
    department TEXT NOT NULL,
    subject_index TEXT NOT NULL,
    outcome TEXT NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    flags TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT ''
);
ALTER TABLE {t} ADD COLUMN IF NOT EXISTS flags TEXT NOT NULL DEFAULT '';
ALTER TABLE {t} ADD COLUMN IF NOT EXISTS source TEXT NOT NULL DEFAULT '';
ALTER TABLE {t} ADD COLUMN IF NOT EXISTS subject TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS {t}_case ON {t}(case_number);
CREATE TABLE IF NOT EXISTS {t}_anchor (
    id BIGSERIAL PRIMARY KEY,
    from_seq BIGINT NOT NULL,
    through_seq BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    last_hash TEXT NOT NULL,
    records BIGINT NOT NULL,
    export_file TEXT NOT NULL,
    export_sha256 TEXT NOT NULL,
    at TEXT NOT NULL,
    mac TEXT NOT NULL DEFAULT ''
);
ALTER TABLE {t}_anchor ADD COLUMN IF NOT EXISTS mac TEXT NOT NULL DEFAULT '';
CREATE OR REPLACE FUNCTION {t}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = '{t}' THEN
        IF OLD.seq <= (SELECT coalesce(max(through_seq), 0) FROM {t}_anchor) THEN
            RETURN OLD;  -- exported and anchored by `querynode audit purge`
        END IF;
    END IF;
    RAISE EXCEPTION 'audit records are append-only';
END $$;
DROP TRIGGER IF EXISTS {t}_no_change ON {t};
CREATE TRIGGER {t}_no_change BEFORE UPDATE OR DELETE ON {t}
    FOR EACH ROW EXECUTE FUNCTION {t}_append_only();
DROP TRIGGER IF EXISTS {t}_no_truncate ON {t};
CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t}
    FOR EACH STATEMENT EXECUTE FUNCTION {t}_append_only();
DROP TRIGGER IF EXISTS {t}_anchor_no_change ON {t}_anchor;
CREATE TRIGGER {t}_anchor_no_change BEFORE UPDATE OR DELETE ON {t}_anchor
    FOR EACH ROW EXECUTE FUNCTION {t}_append_only();
DROP TRIGGER IF EXISTS {t}_anchor_no_truncate ON {t}_anchor;
CREATE TRIGGER {t}_anchor_no_truncate BEFORE TRUNCATE ON {t}_anchor
    FOR EACH STATEMENT EXECUTE FUNCTION {t}_append_only();
"""
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


class PostgresAuditStore(_ChainStore):
    """Audit records in PostgreSQL (asyncpg), same interface and chain as the SQLite store.

    Appends are group-committed: records that arrive while a commit runs go together in the
    next transaction, each caller returns only once its record is committed. Each transaction
    takes an advisory lock and reads the chain head from the table, so several nodes may
    share one table without forking the chain; a purge takes the same lock. UPDATE, DELETE
    and TRUNCATE are refused by triggers (DELETE allowed only for anchored records);
    `verify_chain` catches what a superuser does around them. Anchors live in `<table>_anchor`.
    """

    def __init__(self, dsn: str, table: str = "querynode_audit", *, key: ChainKey, witness: Witness | None = None,
                 checkpoint_seconds: float = 60.0, command_timeout: float = 5.0) -> None:
        if not _TABLE_NAME.match(table):
            raise ValueError("audit table name must be lower-case letters, digits and _")
        self.dsn = dsn
        self.table = table
        self.key = key
        self.witness = witness
        self.checkpoint_seconds = checkpoint_seconds
        self.on_close: list = []  # coroutine functions awaited first when the store closes
        self.command_timeout = command_timeout
        self._pool = None
        self._pending: list[tuple[AuditRecord, asyncio.Future]] = []
        self._flushing = False
        self._lock_id = int.from_bytes(hashlib.sha256(table.encode()).digest()[:8], "big", signed=True)
        self._insert = (f"INSERT INTO {table} ({', '.join(_FIELDS)}, prev_hash, hash) VALUES "
                        f"({', '.join(f'${i}' for i in range(1, len(_FIELDS) + 3))})")
        self._head = (f"SELECT coalesce((SELECT hash FROM {table} ORDER BY seq DESC LIMIT 1), "
                      f"(SELECT last_hash FROM {table}_anchor ORDER BY id DESC LIMIT 1), '{GENESIS}')")

    async def open(self) -> None:
        import asyncpg

        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4,
                                               command_timeout=self.command_timeout)
        async with self._pool.acquire() as conn:
            if not await self._schema_current(conn):  # the node's role may only INSERT and SELECT
                await conn.execute(f"SELECT pg_advisory_lock({self._lock_id})")
                try:
                    await conn.execute(_PG_SCHEMA.format(t=self.table))
                finally:
                    await conn.execute(f"SELECT pg_advisory_unlock({self._lock_id})")
        self._start_checkpoints()

    async def _schema_current(self, conn) -> bool:
        """The tables, their newest columns and the guard triggers exist (nothing to create)."""
        return await conn.fetchval(
            "SELECT count(*) = 4 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND ((table_name = $1 AND column_name IN ('flags', 'source', 'subject')) OR (table_name = $2 AND column_name = 'mac'))",
            self.table, f"{self.table}_anchor") and await conn.fetchval(
            "SELECT count(*) = 4 FROM pg_trigger WHERE tgname = ANY($1::text[])",
            [f"{self.table}_no_change", f"{self.table}_no_truncate",
             f"{self.table}_anchor_no_change", f"{self.table}_anchor_no_truncate"])

    async def close(self) -> None:
        await self._run_on_close()
        if self._pool is not None:
            while self._flushing:  # what was accepted is written before the pool closes
                await asyncio.sleep(0.01)
            await self._stop_checkpoints()
            await self._pool.close()
            self._pool = None

    async def append(self, record: AuditRecord) -> None:
        if self._pool is None:
            raise RuntimeError("audit store is not open")
        done = asyncio.get_running_loop().create_future()
        self._pending.append((record, done))
        if not self._flushing:
            self._flushing = True
            asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._write_batch(batch)
        finally:
            self._flushing = False

    async def _commit(self, records: list[AuditRecord]) -> None:
        async with self._pool.acquire(timeout=self.command_timeout) as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", self._lock_id)
            last = await conn.fetchval(self._head)
            rows = []
            for record in records:
                digest = self.key.link(last, record)
                rows.append([getattr(record, f) for f in _FIELDS] + [last, digest])
                last = digest
            await conn.executemany(self._insert, rows)

    async def writable(self) -> bool:
        if self._pool is None:
            return False
        try:
            async with self._pool.acquire(timeout=self.command_timeout) as conn:
                return await conn.fetchval("SELECT NOT pg_is_in_recovery()")
        except Exception:  # noqa: BLE001 - any failure means not writable
            return False

    async def records(self, *, case_number: str | None = None, subject: str | None = None,
                      flagged: bool = False, limit: int | None = None, all_kinds: bool = False) -> list[AuditRecord]:
        where, params = _filters(case_number, subject, flagged, "$", all_kinds)
        query = f"SELECT {', '.join(_FIELDS)} FROM {self.table}{where} ORDER BY seq"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        async with self._pool.acquire() as conn:
            return [AuditRecord(*row) for row in await conn.fetch(query, *params)]

    async def head(self) -> tuple[int, str]:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(f"SELECT (SELECT count(*) FROM {self.table}), ({self._head})")
        return row[0], row[1]

    async def anchors(self) -> list[Anchor]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT {', '.join(_ANCHOR_FIELDS)} FROM {self.table}_anchor ORDER BY id")
        return [Anchor(*row) for row in rows]

    async def _position(self) -> tuple[int, str, list[Anchor]]:
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            row = await conn.fetchrow(f"SELECT seq, hash FROM {self.table} ORDER BY seq DESC LIMIT 1")
            anchors = [Anchor(*a) for a in await conn.fetch(
                f"SELECT {', '.join(_ANCHOR_FIELDS)} FROM {self.table}_anchor ORDER BY id")]
        return _position(row, anchors)

    async def _rows(self, through_seq: int | None = None):
        query = f"SELECT seq, {', '.join(_FIELDS)}, prev_hash, hash FROM {self.table}"
        params: tuple = ()
        if through_seq is not None:
            query, params = query + " WHERE seq <= $1", (through_seq,)
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            async for row in conn.cursor(query + " ORDER BY seq", *params, prefetch=1000):
                yield tuple(row)

    async def _purge_bound(self, cutoff: str) -> int | None:
        async with self._pool.acquire() as conn:
            return await conn.fetchval(
                f"SELECT max(seq) FROM {self.table} WHERE seq < coalesce("
                f"(SELECT min(seq) FROM {self.table} WHERE at >= $1), 9223372036854775807)", cutoff)

    async def _delete_anchored(self, anchor: Anchor, anchors_before: int) -> None:
        async with self._pool.acquire(timeout=self.command_timeout) as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", self._lock_id)  # appends wait
            count = await conn.fetchval(f"SELECT count(*) FROM {self.table}_anchor")
            last = await conn.fetchval(f"SELECT hash FROM {self.table} WHERE seq = $1", anchor.through_seq)
            _check_unchanged(anchor, count, anchors_before, last)
            await conn.execute(
                f"INSERT INTO {self.table}_anchor ({', '.join(_ANCHOR_FIELDS)}) VALUES "
                f"({', '.join(f'${i}' for i in range(1, len(_ANCHOR_FIELDS) + 1))})", *astuple(anchor))
            status = await conn.execute(f"DELETE FROM {self.table} WHERE seq <= $1", anchor.through_seq,
                                        timeout=max(self.command_timeout, 600))
            _check_deleted(anchor, int(status.split()[-1]))


def store_for(settings, *, purge: bool = False, checkpoints: bool = True) -> SqliteAuditStore | PostgresAuditStore:
    """The audit store `querynode.config.Settings` names (not yet opened), with its MAC key
    and witness; `purge`: PostgreSQL under the purge role (`audit.purge_dsn`) when one is set;
    `checkpoints`: write them every audit.checkpoint_seconds and at close (the node does; the
    audit commands only read the witness, except a purge, which records its anchor)."""
    key = key_for(settings)
    witness = Witness(settings.witness_path(), key)
    seconds = settings.audit.checkpoint_seconds if checkpoints else 0
    if settings.audit.backend == "postgres":
        dsn = (settings.audit.purge_dsn or settings.audit.postgres_dsn) if purge else settings.audit.postgres_dsn
        return PostgresAuditStore(dsn, settings.audit.postgres_table, key=key, witness=witness,
                                  checkpoint_seconds=seconds)
    return SqliteAuditStore(settings.audit_path(), key, witness=witness, checkpoint_seconds=seconds)
