"""Case checks: every check a registration case needs, in parallel, each through the hub's
one path; findings across sources; the signed verification record.

    plan (plans.yaml) -> fan-out (Hub.execute per check) -> findings -> status -> record
"""
from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from querynode.core import findings as f
from querynode.core.hub import Hub
from querynode.core.kinds import KINDS, Kind, NoOnlineSource
from querynode.core.operations import operation_for, registry
from querynode.core.plans import Plans, TypePlan
from querynode.core.validate import validate_context, validate_query
from querynode.domain import errors as e
from querynode.domain import model as m
from querynode.domain.case import (
    CaseRequest,
    CaseResult,
    CaseStatus,
    CheckResult,
    CheckStatus,
    Finding,
    PlannedCheck,
    Severity,
)
from querynode.domain.codec import to_data
from querynode.domain.fields import ADDRESS, PROPERTY_UNIT
from querynode.domain.identifiers import context_text
from querynode.domain.model import SHANGHAI
from querynode.security.masking import mask_id_number, mask_name
from querynode.security.record_store import RecordStore
from querynode.security.records import RecordSigner, SealedRecord

log = logging.getLogger("querynode.casecheck")
MAX_PARTIES = 20

class Readers(enum.Enum):
    """Who may read a stored case result: the caller system that ran the case (gRPC, JSON
    API), that caller's same operator (a clerk's own cases), or anyone (an auditor)."""
    CALLER = "caller"
    OPERATOR = "operator"
    ANYONE = "anyone"

    def allow(self, case: dict, ctx: m.RequestContext) -> bool:
        if self is Readers.ANYONE:
            return True
        if case.get("caller") != ctx.caller:
            return False
        return self is Readers.CALLER or case.get("operator_id") == ctx.operator_id


def _invalid(field: str, description: str) -> e.InvalidArgument:
    return e.InvalidArgument([e.FieldViolation(field, description)])


NOT_DONE = (CheckStatus.UNAVAILABLE, CheckStatus.PENDING, CheckStatus.STALE)


def _recheck_line(result: CheckResult) -> str:
    """What the clerk must still do about a check that is not done (its summary says why)."""
    if result.status == CheckStatus.STALE:
        return result.summary
    if result.status == CheckStatus.PENDING:
        return f"{result.summary}；急需时请人工核验"
    if isinstance(result.check.query, NoOnlineSource):
        return result.summary
    return f"{result.summary}，请人工核验，或待恢复后重新核验"


def _status_text(status: CaseStatus, blocked: bool, open_checks: bool) -> str:
    if status == CaseStatus.CLEAR:
        return "所列项目未发现异常（不替代审核）"
    if blocked:
        return "存在不能办理的事项（见核验发现）" + ("；另有未完成的核验项，须重新核验" if open_checks else "")
    if status == CaseStatus.INCOMPLETE:
        return "核验未完成，须对未完成项人工核验或重新核验"
    return "存在需关注的事项（见核验发现）"


def _follow_ups(result: CheckResult) -> list[PlannedCheck]:
    """Checks an answer calls for (kinds.py: Kind.follow_up), about the same party."""
    kind, answer = KINDS[result.check.kind], result.answer
    if kind.follow_up is None or answer is None or answer.result is None or result.status == CheckStatus.PENDING:
        return []
    check = result.check
    return [PlannedCheck(f"{name}:{about}:{check.role}:{check.party_index}", name, check.role, check.party_index,
                         query, about)
            for name, about, query in kind.follow_up(answer.result)]


class CaseChecker:
    def __init__(self, hub: Hub, plans: Plans, store: RecordStore, signer: RecordSigner,
                 *, pending_budget_seconds: float = 30.0) -> None:
        self.hub = hub
        self.plans = plans
        self.store = store
        self.signer = signer
        self.pending_budget_seconds = pending_budget_seconds
        self._background: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ planning

    def plan(self, request: CaseRequest) -> tuple[TypePlan, list[PlannedCheck], list[str]]:
        """The checks a case needs and what normalising the input changed (one line per party and
        change, for the record); InvalidArgument for an unknown type, a role the type does not
        have, or a party whose data the checks cannot use."""
        type_plan = self.plans.types.get(request.registration_type)
        if type_plan is None:
            raise _invalid("registration_type", "登记类型未知，可选：" + "、".join(self.plans.types))
        if not request.parties:
            raise _invalid("parties", "至少需要一名当事人")
        if len(request.parties) > MAX_PARTIES:
            raise _invalid("parties", f"当事人不能超过 {MAX_PARTIES} 名")
        for name, limits in (("property_unit", PROPERTY_UNIT), ("property_address", ADDRESS)):
            if getattr(request, name):
                context_text(getattr(request, name), name, max_len=limits.max_length)
        checks: list[PlannedCheck] = []
        warnings: dict[str, None] = {}  # ordered, each once (every kind of a party validates it again)
        for i, party in enumerate(request.parties):
            role_plan = type_plan.roles.get(party.role)
            if role_plan is None:
                raise _invalid(f"parties[{i}].role", f"登记类型 {request.registration_type} 没有该角色，可选："
                                                     + "、".join(type_plan.roles))
            kinds = role_plan.person if party.is_person else role_plan.organization
            if not kinds:
                expected = "组织（法人或非法人组织）" if party.is_person else "自然人"
                raise _invalid(f"parties[{i}]", f"角色 {party.role} 的当事人须为{expected}")
            for name in [n for named in kinds for n in (named, *KINDS[named].also)]:
                kind = KINDS[name]
                query = kind.query(party)
                if isinstance(query, NoOnlineSource):  # validated all the same, then left to a person
                    valid, changed = self._validated(kind, query.query, f"parties[{i}].")
                    query = dataclasses.replace(query, query=valid)
                else:
                    query, changed = self._validated(kind, query, f"parties[{i}].")
                warnings |= {f"当事人{i + 1} {w}": None for w in changed}
                checks.append(PlannedCheck(f"{name}:{party.role}:{i}", name, party.role, i, query))
        for name, kind in KINDS.items():
            if kind.subject != "case":
                continue
            value, need = getattr(request, kind.case_field), type_plan.case.get(name)
            if need == "required" and not value:
                raise _invalid(kind.case_field, f"登记类型 {request.registration_type} 必须填写")
            if value and need is None:
                raise _invalid(kind.case_field, f"登记类型 {request.registration_type} 不使用此项")
            if value:
                query, changed = self._validated(kind, kind.query(request), "", kind.case_field)
                warnings |= dict.fromkeys(changed)
                checks.append(PlannedCheck(f"{name}:case", name, "", -1, query))
        return type_plan, checks, list(warnings)

    @staticmethod
    def _validated(kind: Kind, query: Any, prefix: str, case_field: str = "") -> tuple[Any, list[str]]:
        try:
            return validate_query(query)
        except e.InvalidArgument as exc:
            raise e.InvalidArgument([  # named as the case request names its fields, not as the query does
                dataclasses.replace(v, field=case_field or prefix + kind.field_names.get(v.field, v.field), label="")
                for v in exc.violations
            ]) from None

    # ------------------------------------------------------------------ running

    async def check(self, ctx: m.RequestContext, request: CaseRequest) -> CaseResult:
        """The case's record at once (the unary doors): the fan-out of `stream` without the
        per-check entries nobody would read."""
        result = None
        async for event in self.stream(ctx, request, progress=False):
            result = event
        assert isinstance(result, CaseResult)
        return result

    async def stream(self, ctx: m.RequestContext, request: CaseRequest, *,
                     progress: bool = True) -> AsyncIterator[dict | CaseResult]:
        """Yield each check's record entry as it completes (when `progress`: the stream sends
        them), then the CaseResult."""
        started = time.perf_counter()
        ctx = validate_context(ctx)
        try:
            self.hub.authorizer.check_operation(ctx, "CheckCase")
        except e.QueryError as exc:  # refused before any department is asked; on record
            await self.hub.audit.record(
                audit_id=uuid.uuid4().hex, ctx=ctx, operation="CheckCase", department="case", subject_index="",
                outcome=exc.reason, latency_ms=(time.perf_counter() - started) * 1000)
            raise
        if ctx.deadline is None:  # every check of the case shares one budget
            ctx = dataclasses.replace(
                ctx, deadline=asyncio.get_running_loop().time() + self.hub.default_deadline_seconds)
        type_plan, planned, input_warnings = self.plan(request)
        view = self._view(request, type_plan, input_warnings)
        finished: asyncio.Queue[asyncio.Task] = asyncio.Queue()  # each check's task as it ends
        running: set[asyncio.Task] = set()

        def start(check: PlannedCheck) -> None:
            task = asyncio.ensure_future(self._run(ctx, check))
            task.add_done_callback(finished.put_nowait)
            running.add(task)

        for check in planned:
            start(check)
        try:
            while running:
                task = await finished.get()
                running.discard(task)
                result = task.result()
                view.results.append(result)
                for later in _follow_ups(result):
                    start(later)
                if progress:
                    yield self._check_entry(self._assessed(result, self._findings(result, view), view))
        finally:
            for task in running:
                task.cancel()
        handle = uuid.uuid4().hex if any(r.status == CheckStatus.PENDING for r in view.results) else ""
        case_result = await self._seal(ctx, view, handle, started)
        if handle:
            self._continue_pending(ctx, view, handle, started)
        yield case_result

    def _view(self, request: CaseRequest, type_plan: TypePlan, input_warnings: list[str]) -> f.CaseView:
        role_labels = {k: v.label for k, v in type_plan.roles.items()}
        labels = {i: f.party_label(request, role_labels, i) for i in range(len(request.parties))}
        case_labels = {name: kind.label for name, kind in KINDS.items() if kind.subject == "case"}
        return f.CaseView(request, type_plan, labels, [], case_labels, datetime.now(SHANGHAI).date(), input_warnings)

    async def _run(self, ctx: m.RequestContext, check: PlannedCheck) -> CheckResult:
        if isinstance(check.query, NoOnlineSource):
            return CheckResult(check, CheckStatus.UNAVAILABLE, "", None)
        try:
            answer = await self.hub.execute(ctx, check.query)
        except (e.InvalidArgument, e.PermissionDenied, e.ResourceExhausted):
            # (InvalidArgument: a follow-up built from a department's answer that cannot be asked)
            return CheckResult(check, CheckStatus.UNAVAILABLE, "", None)
        if answer.result is None:
            status = CheckStatus.UNAVAILABLE
        elif KINDS[check.kind].pending(answer.result):
            status = CheckStatus.PENDING
        elif answer.provenance.stale:
            status = CheckStatus.STALE
        else:
            status = CheckStatus.OK
        return CheckResult(check, status, "", answer)

    @staticmethod
    def _findings(result: CheckResult, view: f.CaseView) -> list[Finding]:
        """A check's findings; a stale answer gives them too (a death does not undo itself), but
        its check stays STALE and the case is not complete."""
        if result.status in (CheckStatus.PENDING, CheckStatus.UNAVAILABLE) or result.answer is None \
                or result.answer.result is None:
            return []
        return KINDS[result.check.kind].findings(result, view)

    @staticmethod
    def _assessed(result: CheckResult, found: list[Finding], view: f.CaseView) -> CheckResult:
        """The check with its one-line summary, and ATTENTION when its findings (`found`) hold
        more than a note."""
        query = result.check.query
        if isinstance(query, NoOnlineSource):
            summary = f"{view.who(result.check)}：{query.reason}"
        else:
            source = registry().title_of(operation_for(query).department)
            summary = result.summary or f.summary(result, KINDS[result.check.kind], view.who(result.check), source)
        status = result.status
        if status == CheckStatus.OK and any(x.severity != Severity.INFO for x in found):
            status = CheckStatus.ATTENTION
        return dataclasses.replace(result, status=status, summary=summary)

    # ------------------------------------------------------------------ the record

    @staticmethod
    def _check_entry(result: CheckResult) -> dict:
        check = result.check
        provenance = to_data(result.answer.provenance) if result.answer else None
        return {"check_id": check.check_id, "kind": check.kind, "role": check.role,
                "party_index": check.party_index, "status": result.status.value, "summary": result.summary,
                "provenance": provenance}

    async def _seal(self, ctx: m.RequestContext, view: f.CaseView, handle: str, started: float) -> CaseResult:
        request, type_plan = view.request, view.type_plan
        per_check = [(r, self._findings(r, view)) for r in view.results]  # each check's findings, once
        results = [self._assessed(r, check_found, view) for r, check_found in per_check]
        found = f.ordered([x for _, check_found in per_check for x in check_found] + f.party_findings(view))
        recheck = [_recheck_line(r) for r in sorted(results, key=lambda r: r.check.check_id) if r.status in NOT_DONE]
        blocked = any(x.severity == Severity.BLOCKING for x in found)
        # A blocker is the headline even when some checks are not done: the case cannot go on
        # as it stands whatever they say. `complete` and `recheck` tell what is still open.
        if blocked:
            status = CaseStatus.NEEDS_ATTENTION
        elif recheck:
            status = CaseStatus.INCOMPLETE
        elif any(x.severity != Severity.INFO for x in found):
            status = CaseStatus.NEEDS_ATTENTION
        else:
            status = CaseStatus.CLEAR
        record = {
            "version": 1,
            "record_id": uuid.uuid4().hex,
            "handle": handle,
            "created_at": datetime.now(UTC).isoformat(),
            "key_id": self.signer.key_id,
            "case": {"case_number": ctx.case_number, "operator_id": ctx.operator_id, "caller": ctx.caller,
                     "purpose": ctx.purpose, "registration_type": request.registration_type,
                     "registration_label": type_plan.label, "judgment_case_number": request.judgment_case_number,
                     "place_name": request.place_name, "property_unit": request.property_unit,
                     "property_address": request.property_address, "fresh": ctx.fresh,
                     "case_date": view.today.isoformat()},
            "parties": [{"index": i, "role": p.role, "role_label": type_plan.roles[p.role].label,
                         "name": mask_name(p.name), "id_number": mask_id_number(p.id_number),
                         "credit_code": p.credit_code, "organization_name": p.organization_name,
                         "license_code": p.license_code} for i, p in enumerate(request.parties)],
            # what normalising the input changed before asking (15 digits to 18, spaces removed ...)
            "input_warnings": view.input_warnings,
            "checks": [self._check_entry(r) for r in sorted(results, key=lambda r: r.check.check_id)],
            "findings": [{"code": x.code, "severity": x.severity.value, "message": x.message,
                          "check_ids": list(x.check_ids)} for x in found],
            "status": status.value,
            "status_text": _status_text(status, blocked, bool(recheck)),
            "complete": not recheck,
            "by_hand": recheck,
        }
        sealed = self.signer.seal(record)
        await self.store.put(record_id=record["record_id"], handle=handle or record["record_id"],
                             case_number=ctx.case_number, created_at=record["created_at"],
                             complete=not any(r.status == CheckStatus.PENDING for r in view.results),
                             body=sealed.body, digest=sealed.digest, signature=sealed.signature, key_id=sealed.key_id)
        await self.hub.audit.record(
            audit_id=record["record_id"], ctx=ctx, operation="CheckCase", department="case", subject_index="",
            outcome=status.value, latency_ms=(time.perf_counter() - started) * 1000)
        return CaseResult(record, sealed.body, sealed.digest, sealed.signature)

    def _continue_pending(self, ctx: m.RequestContext, view: f.CaseView, handle: str, started: float) -> None:
        """Keep waiting for pending (court) checks in the background; store the completed
        record under the same handle for GetCaseResult."""
        async def finish() -> None:
            loop = asyncio.get_running_loop()
            later = dataclasses.replace(ctx, deadline=loop.time() + self.pending_budget_seconds)
            done = [await self._run(later, r.check) if r.status == CheckStatus.PENDING else r for r in view.results]
            await self._seal(ctx, dataclasses.replace(view, results=done), handle, started)

        task = asyncio.ensure_future(finish())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(lambda t: t.cancelled() or t.exception() and log.error(
            "pending case completion failed", extra={"error": type(t.exception()).__name__}))

    # ------------------------------------------------------------------ reading results

    async def result(self, ctx: m.RequestContext, handle: str) -> CaseResult:
        """The latest record under a handle (GetCaseResult), for the caller system that ran the
        case only: anyone else gets NotFound, as for a handle that does not exist."""
        ctx = validate_context(ctx)
        row = await self.store.latest_for_handle(handle) if handle and len(handle) <= 64 else None
        body = row[1] if row else None
        record = await self._release(ctx, body, Readers.CALLER, "no case result for this handle")
        _, body, digest, signature, _ = row
        return CaseResult(record, body, digest, signature)

    async def sealed_record(self, ctx: m.RequestContext, record_id: str,
                            readers: Readers = Readers.CALLER) -> SealedRecord:
        """One record as filed, for `readers` only (else NotFound, as for an unknown id)."""
        row = await self.store.by_id(record_id) if len(record_id) == 32 else None
        await self._release(ctx, row[0] if row else None, readers, "no verification record with this id")
        return SealedRecord(*row)

    async def _release(self, ctx: m.RequestContext, body: bytes | None, readers: Readers, missing: str) -> dict:
        """Audit the read (operation GetCaseResult, department case) and return the record, or
        audit the refusal and raise NotFound. The record's own (signed) case says who ran it;
        a released read is audited under the record's case number."""
        started = time.perf_counter()
        record = json.loads(body) if body is not None else None
        allowed = record is not None and readers.allow(record["case"], ctx)
        if allowed:
            ctx = dataclasses.replace(ctx, case_number=record["case"]["case_number"])
        await self.hub.audit.record(
            audit_id=uuid.uuid4().hex, ctx=ctx, operation="GetCaseResult", department="case", subject_index="",
            outcome=record["status"] if allowed else e.NotFound.reason,
            latency_ms=(time.perf_counter() - started) * 1000)
        if not allowed:
            raise e.NotFound(missing)
        return record

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
