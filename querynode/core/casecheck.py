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
from querynode.core.plans import Plans, TypePlan
from querynode.core.validate import validate_context, validate_query
from querynode.domain import errors as e
from querynode.domain import model as m
from querynode.domain.case import (
    CaseParty,
    CaseRequest,
    CaseResult,
    CaseStatus,
    CheckKind,
    CheckResult,
    CheckStatus,
    Finding,
    PlannedCheck,
    Severity,
)
from querynode.domain.codec import to_data
from querynode.security.masking import mask_id_number, mask_name
from querynode.security.record_store import RecordStore
from querynode.security.records import RecordSigner, SealedRecord

log = logging.getLogger("querynode.casecheck")
MAX_PARTIES = 20

# How a lookup's field names read in a case request.
_FIELD_IN_CASE = {
    CheckKind.ORGANIZATION: {"name": "organization_name", "credit_code|name": "credit_code|organization_name"},
    CheckKind.LICENSE: {"institution_name": "organization_name",
                        "license_code|institution_name": "license_code|organization_name"},
}


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


def _party_query(kind: CheckKind, party: CaseParty) -> Any:
    match kind:
        case CheckKind.IDENTITY:
            return m.IdentityQuery(party.id_number, party.name)
        case CheckKind.DEATH:
            return m.DeathQuery(party.id_number, party.name)
        case CheckKind.MARRIAGE:
            return m.MarriageQuery(party.id_number, party.name)
        case CheckKind.ORGANIZATION:
            if party.credit_code:
                return m.OrganizationQuery(credit_code=party.credit_code)
            return m.OrganizationQuery(name=party.organization_name or None)
        case CheckKind.LICENSE:
            if party.license_code:
                return m.LicenseQuery(license_code=party.license_code)
            return m.LicenseQuery(institution_name=party.organization_name or None)
    raise ValueError(kind)


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

    def plan(self, request: CaseRequest) -> tuple[TypePlan, list[PlannedCheck]]:
        """The checks a case needs; InvalidArgument for an unknown type, a role the type does
        not have, or a party whose data the checks cannot use."""
        type_plan = self.plans.types.get(request.registration_type)
        if type_plan is None:
            raise _invalid("registration_type", "unknown registration type; known: " + ", ".join(self.plans.types))
        if not request.parties:
            raise _invalid("parties", "at least one party is required")
        if len(request.parties) > MAX_PARTIES:
            raise _invalid("parties", f"at most {MAX_PARTIES} parties")
        checks: list[PlannedCheck] = []
        for i, party in enumerate(request.parties):
            role_plan = type_plan.roles.get(party.role)
            if role_plan is None:
                raise _invalid(f"parties[{i}].role", f"registration type {request.registration_type} has no such role; "
                                                     f"roles: {', '.join(type_plan.roles)}")
            kinds = role_plan.person if party.is_person else role_plan.organization
            if not kinds:
                expected = "an organisation" if party.is_person else "a natural person"
                raise _invalid(f"parties[{i}]", f"role {party.role} must be {expected}")
            for kind in kinds:
                query = self._validated(kind, _party_query(kind, party), f"parties[{i}].")
                checks.append(PlannedCheck(f"{kind.value}:{party.role}:{i}", kind, party.role, i, query,
                                           role_plan.rule(kind)))
        for kind, value, field in ((CheckKind.JUDGMENT, request.judgment_case_number, "judgment_case_number"),
                                   (CheckKind.PLACE_NAME, request.place_name, "place_name")):
            need = type_plan.case.get(kind.value)
            if need == "required" and not value:
                raise _invalid(field, f"registration type {request.registration_type} requires it")
            if value and need is None:
                raise _invalid(field, f"registration type {request.registration_type} does not use it")
            if value:
                query = m.JudgmentQuery(case_number=value) if kind == CheckKind.JUDGMENT else m.PlaceNameQuery(name=value)
                checks.append(PlannedCheck(f"{kind.value}:case", kind, "", -1, self._validated(kind, query, "", field)))
        return type_plan, checks

    @staticmethod
    def _validated(kind: CheckKind, query: Any, prefix: str, case_field: str = "") -> Any:
        try:
            return validate_query(query)[0]
        except e.InvalidArgument as exc:
            rename = _FIELD_IN_CASE.get(kind, {})
            raise e.InvalidArgument([
                dataclasses.replace(v, field=case_field or prefix + rename.get(v.field, v.field))
                for v in exc.violations
            ]) from None

    # ------------------------------------------------------------------ running

    async def check(self, ctx: m.RequestContext, request: CaseRequest) -> CaseResult:
        result = None
        async for event in self.stream(ctx, request):
            result = event
        assert isinstance(result, CaseResult)
        return result

    async def stream(self, ctx: m.RequestContext, request: CaseRequest) -> AsyncIterator[dict | CaseResult]:
        """Yield each check (as its record entry) as it completes, then the CaseResult."""
        started = time.perf_counter()
        ctx = validate_context(ctx)
        if ctx.deadline is None:  # every check of the case shares one budget
            ctx = dataclasses.replace(
                ctx, deadline=asyncio.get_running_loop().time() + self.hub.default_deadline_seconds)
        type_plan, planned = self.plan(request)
        labels = {i: f.party_label(request, {k: v.label for k, v in type_plan.roles.items()}, i)
                  for i in range(len(request.parties))}
        tasks = [asyncio.ensure_future(self._run(ctx, check)) for check in planned]
        pairs: list[tuple[CheckResult, list[Finding]]] = []
        try:
            for next_done in asyncio.as_completed(tasks):
                pair = self._with_local_findings(await next_done, request, labels)
                pairs.append(pair)
                yield self._check_entry(pair)
        finally:
            for task in tasks:
                task.cancel()
        handle = uuid.uuid4().hex if any(r.status == CheckStatus.PENDING for r, _ in pairs) else ""
        case_result = await self._seal(ctx, request, type_plan, pairs, labels, handle, started)
        if handle:
            self._continue_pending(ctx, request, type_plan, pairs, labels, handle, started)
        yield case_result

    async def _run(self, ctx: m.RequestContext, check: PlannedCheck) -> CheckResult:
        try:
            answer = await self.hub.execute(ctx, check.query)
        except (e.PermissionDenied, e.ResourceExhausted) as exc:
            return CheckResult(check, CheckStatus.UNAVAILABLE, exc.message, None)
        if answer.result is None:
            status = CheckStatus.UNAVAILABLE
        elif isinstance(answer.result, m.JudgmentResult) and answer.result.pending:
            status = CheckStatus.PENDING
        else:
            status = CheckStatus.OK
        return CheckResult(check, status, "", answer)

    def _with_local_findings(self, result: CheckResult, request: CaseRequest,
                             labels: dict[int, str]) -> tuple[CheckResult, list[Finding]]:
        who = labels.get(result.check.party_index, "") or {"judgment": "裁判文书", "place_name": "地名"}[result.check.kind.value]
        summary = result.summary or f.summary(result, who)
        found = f.local_findings(result, request, who)
        status = result.status
        if status == CheckStatus.OK and any(x.severity != Severity.INFO for x in found):
            status = CheckStatus.ATTENTION
        return dataclasses.replace(result, status=status, summary=summary), found

    # ------------------------------------------------------------------ the record

    @staticmethod
    def _check_entry(pair: tuple[CheckResult, list[Finding]]) -> dict:
        result, _ = pair
        check = result.check
        provenance = to_data(result.answer.provenance) if result.answer else None
        return {"check_id": check.check_id, "kind": check.kind.value, "role": check.role,
                "party_index": check.party_index, "status": result.status.value, "summary": result.summary,
                "provenance": provenance}

    async def _seal(self, ctx: m.RequestContext, request: CaseRequest, type_plan: TypePlan, pairs: list,
                    labels: dict[int, str], handle: str, started: float) -> CaseResult:
        results = [r for r, _ in pairs]
        found: list[Finding] = [x for _, fs in pairs for x in fs]
        found += f.cross_findings(results, request, labels)
        by_hand = [r.summary for r in results if r.status in (CheckStatus.UNAVAILABLE, CheckStatus.PENDING)]
        if by_hand:
            status = CaseStatus.INCOMPLETE
        elif any(x.severity != Severity.INFO for x in found):
            status = CaseStatus.NEEDS_ATTENTION
        else:
            status = CaseStatus.CLEAR
        order = {c: i for i, c in enumerate(sorted({r.check.check_id for r in results}))}
        record = {
            "version": 1,
            "record_id": uuid.uuid4().hex,
            "handle": handle,
            "created_at": datetime.now(UTC).isoformat(),
            "key_id": self.signer.key_id,
            "case": {"case_number": ctx.case_number, "operator_id": ctx.operator_id, "caller": ctx.caller,
                     "purpose": ctx.purpose, "registration_type": request.registration_type,
                     "registration_label": type_plan.label, "judgment_case_number": request.judgment_case_number,
                     "place_name": request.place_name},
            "parties": [{"index": i, "role": p.role, "role_label": type_plan.roles[p.role].label,
                         "name": mask_name(p.name), "id_number": mask_id_number(p.id_number),
                         "credit_code": p.credit_code, "organization_name": p.organization_name,
                         "license_code": p.license_code} for i, p in enumerate(request.parties)],
            "checks": sorted((self._check_entry(pair) for pair in pairs),
                             key=lambda c: order[c["check_id"]]),
            "findings": [{"code": x.code, "severity": x.severity.value, "message": x.message,
                          "check_ids": list(x.check_ids)} for x in found],
            "status": status.value,
            "by_hand": [f"{s}（请人工核验）" for s in by_hand],
        }
        sealed = self.signer.seal(record)
        await self.store.put(record_id=record["record_id"], handle=handle or record["record_id"],
                             case_number=ctx.case_number, created_at=record["created_at"],
                             complete=not any(r.status == CheckStatus.PENDING for r in results),
                             body=sealed.body, digest=sealed.digest, signature=sealed.signature, key_id=sealed.key_id)
        await self.hub.audit.record(
            audit_id=record["record_id"], ctx=ctx, operation="CheckCase", department="case", subject_index="",
            outcome=status.value, latency_ms=(time.perf_counter() - started) * 1000)
        return CaseResult(record, sealed.body, sealed.digest, sealed.signature)

    def _continue_pending(self, ctx, request, type_plan, pairs, labels, handle, started: float) -> None:
        """Keep waiting for pending (court) checks in the background; store the completed
        record under the same handle for GetCaseResult."""
        async def finish() -> None:
            loop = asyncio.get_running_loop()
            later = dataclasses.replace(ctx, deadline=loop.time() + self.pending_budget_seconds)
            done = []
            for result, found in pairs:
                if result.status == CheckStatus.PENDING:
                    done.append(self._with_local_findings(await self._run(later, result.check), request, labels))
                else:
                    done.append((result, found))
            await self._seal(ctx, request, type_plan, done, labels, handle, started)

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
