"""Proto messages <-> domain types. No logic beyond the mapping."""
from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from querynode.domain import model as m
from querynode.domain.case import CaseParty, CaseRequest, CaseResult
from querynode.v1 import querynode_pb2 as pb

DEPARTMENT = {
    m.Department.IDENTITY: pb.DEPARTMENT_IDENTITY,
    m.Department.CREDIT_CODE: pb.DEPARTMENT_CREDIT_CODE,
    m.Department.MARRIAGE: pb.DEPARTMENT_MARRIAGE,
    m.Department.COURT: pb.DEPARTMENT_COURT,
    m.Department.DEATH: pb.DEPARTMENT_DEATH,
    m.Department.PLACE_NAME: pb.DEPARTMENT_PLACE_NAME,
    m.Department.FINANCIAL_LICENSE: pb.DEPARTMENT_FINANCIAL_LICENSE,
}
IDENTITY_VERDICT = {
    m.IdentityVerdict.MATCH: pb.IDENTITY_VERDICT_MATCH,
    m.IdentityVerdict.MISMATCH: pb.IDENTITY_VERDICT_MISMATCH,
    m.IdentityVerdict.NOT_FOUND: pb.IDENTITY_VERDICT_NOT_FOUND,
    m.IdentityVerdict.SOURCE_UNAVAILABLE: pb.IDENTITY_VERDICT_SOURCE_UNAVAILABLE,
}
IDENTITY_ITEM = {m.IdentityItem.NAME: pb.IDENTITY_ITEM_NAME, m.IdentityItem.ID_NUMBER: pb.IDENTITY_ITEM_ID_NUMBER}
ORG_STATUS = {
    m.OrganizationStatus.ACTIVE: pb.ORGANIZATION_STATUS_ACTIVE,
    m.OrganizationStatus.REVOKED: pb.ORGANIZATION_STATUS_REVOKED,
    m.OrganizationStatus.CANCELLED: pb.ORGANIZATION_STATUS_CANCELLED,
}
MARITAL_STATUS = {
    m.MaritalStatus.NO_RECORD: pb.MARITAL_STATUS_NO_RECORD,
    m.MaritalStatus.MARRIED: pb.MARITAL_STATUS_MARRIED,
    m.MaritalStatus.DIVORCED: pb.MARITAL_STATUS_DIVORCED,
    m.MaritalStatus.ANNULLED: pb.MARITAL_STATUS_ANNULLED,
}
MARRIAGE_ACT = {
    m.MarriageAct.MARRIAGE: pb.MARRIAGE_ACT_MARRIAGE,
    m.MarriageAct.DIVORCE: pb.MARRIAGE_ACT_DIVORCE,
    m.MarriageAct.REISSUE: pb.MARRIAGE_ACT_REISSUE,
    m.MarriageAct.REISSUE_MARRIAGE: pb.MARRIAGE_ACT_REISSUE_MARRIAGE,
    m.MarriageAct.REISSUE_DIVORCE: pb.MARRIAGE_ACT_REISSUE_DIVORCE,
    m.MarriageAct.ANNULMENT: pb.MARRIAGE_ACT_ANNULMENT,
}


def context(msg: pb.RequestContext) -> dict:
    return {"case_number": msg.case_number, "operator_id": msg.operator_id, "purpose": msg.purpose,
            "request_id": msg.request_id, "fresh": msg.fresh}


def _key(msg, name: str):
    return getattr(msg, name) if msg.WhichOneof("key") == name else None


def query(request) -> m.Query:
    match request:
        case pb.VerifyIdentityRequest():
            return m.IdentityQuery(id_number=request.id_number, name=request.name)
        case pb.LookupOrganizationRequest():
            return m.OrganizationQuery(credit_code=_key(request, "credit_code"), name=_key(request, "name"))
        case pb.QueryFinancialLicenseRequest():
            return m.LicenseQuery(license_code=_key(request, "license_code"),
                                  institution_name=_key(request, "institution_name"))
        case pb.QueryJudgmentsRequest():
            return m.JudgmentQuery(case_number=_key(request, "case_number"), party_name=_key(request, "party_name"))
        case pb.QueryMarriageRequest():
            return m.MarriageQuery(id_number=request.id_number, name=request.name,
                                   spouse_id_number=request.spouse_id_number or None,
                                   spouse_name=request.spouse_name or None)
        case pb.QueryPlaceNamesRequest():
            return m.PlaceNameQuery(name=_key(request, "name"), division_code=_key(request, "division_code"),
                                    prefix=request.prefix, limit=request.limit or 20)
        case pb.QueryDeathRequest():
            return m.DeathQuery(id_number=request.id_number, name=request.name)
    raise TypeError(type(request).__name__)


def _timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def provenance(p: m.Provenance) -> pb.Provenance:
    return pb.Provenance(
        department=DEPARTMENT[p.department], source_time=_timestamp(p.source_time), from_cache=p.from_cache,
        cache_age_seconds=p.cache_age_seconds, stale=p.stale, audit_id=p.audit_id, request_id=p.request_id,
        unavailable_reason=p.unavailable_reason,
    )


def _lookup_verdict(answer: m.Answer, found: bool) -> int:
    if answer.result is None:
        return pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    return pb.LOOKUP_VERDICT_FOUND if found else pb.LOOKUP_VERDICT_NOT_FOUND


def organization(o: m.Organization) -> pb.Organization:
    return pb.Organization(
        credit_code=o.credit_code, name=o.name, legal_representative=o.legal_representative,
        org_type=o.org_type, domicile=o.domicile, registered_capital=o.registered_capital,
        established_on=o.established_on, issuing_office=o.issuing_office, status=ORG_STATUS[o.status],
        status_text=o.status_text, scope=o.scope,
    )


def license(x: m.FinancialLicense) -> pb.FinancialLicense:
    return pb.FinancialLicense(
        license_code=x.license_code, serial_number=x.serial_number, institution_name=x.institution_name,
        short_name=x.short_name, english_name=x.english_name, institution_type=x.institution_type,
        address=x.address, scope=x.scope, issuing_office=x.issuing_office, approved_on=x.approved_on,
        issued_on=x.issued_on, valid=x.valid, credit_code=x.credit_code,
    )


def judgment(j: m.Judgment) -> pb.Judgment:
    return pb.Judgment(
        case_number=j.case_number, court=j.court, cause=j.cause, decided_on=j.decided_on,
        parties=[pb.Party(name=p.name, role=p.role, id_number=p.id_number) for p in j.parties],
        operative_text=j.operative_text, document_type=j.document_type,
    )


def marriage_record(r: m.MarriageRecord) -> pb.MarriageRecord:
    return pb.MarriageRecord(
        act=MARRIAGE_ACT[r.act], registered_on=r.registered_on, office_name=r.office_name,
        office_code=r.office_code, certificate_number=r.certificate_number, party_name=r.party_name,
        party_id_number=r.party_id_number, spouse_name=r.spouse_name, spouse_id_number=r.spouse_id_number,
    )


def place(p: m.PlaceName) -> pb.PlaceName:
    return pb.PlaceName(
        name=p.name, roman=p.roman, place_type=p.place_type, place_type_code=p.place_type_code, code=p.code,
        division_code=p.division_code, division_name=p.division_name, longitude=p.longitude,
        latitude=p.latitude, meaning=p.meaning, history=list(p.history),
    )


def response(op_name: str, answer: m.Answer):
    """Build the response message of an operation from its answer."""
    prov = provenance(answer.provenance)
    r = answer.result
    match op_name:
        case "VerifyIdentity":
            if r is None:
                return pb.VerifyIdentityResponse(verdict=pb.IDENTITY_VERDICT_SOURCE_UNAVAILABLE,
                                                 warnings=list(answer.warnings), provenance=prov)
            return pb.VerifyIdentityResponse(
                verdict=IDENTITY_VERDICT[r.verdict], mismatched_items=[IDENTITY_ITEM[i] for i in r.mismatched_items],
                warnings=list(answer.warnings), provenance=prov)
        case "LookupOrganization":
            orgs = r.organizations if r else ()
            return pb.LookupOrganizationResponse(
                verdict=_lookup_verdict(answer, bool(orgs)), organizations=[organization(o) for o in orgs],
                warnings=list(answer.warnings), provenance=prov)
        case "QueryFinancialLicense":
            lics = r.licenses if r else ()
            return pb.QueryFinancialLicenseResponse(
                verdict=_lookup_verdict(answer, bool(lics)), licenses=[license(x) for x in lics], provenance=prov)
        case "QueryJudgments":
            js = r.judgments if r else ()
            pending = bool(r and r.pending)
            return pb.QueryJudgmentsResponse(
                verdict=pb.LOOKUP_VERDICT_PENDING if pending else _lookup_verdict(answer, bool(js)), judgments=[judgment(j) for j in js],
                pending=pending, provenance=prov)
        case "QueryMarriage":
            if r is None:
                return pb.QueryMarriageResponse(verdict=pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE, provenance=prov)
            return pb.QueryMarriageResponse(
                status=MARITAL_STATUS[r.status], spouse_name=r.spouse_name, spouse_id_number=r.spouse_id_number,
                married_to_each_other=r.married_to_each_other, records=[marriage_record(x) for x in r.records],
                verdict=_lookup_verdict(answer, bool(r.records)), provenance=prov)
        case "QueryPlaceNames":
            places = r.places if r else ()
            return pb.QueryPlaceNamesResponse(
                verdict=_lookup_verdict(answer, bool(places)), places=[place(p) for p in places], provenance=prov)
        case "QueryDeath":
            rec = r.record if r else None
            return pb.QueryDeathResponse(
                verdict=_lookup_verdict(answer, rec is not None),
                record=pb.DeathRecord(died_on=rec.died_on, certificate_number=rec.certificate_number,
                                      issuer=rec.issuer, cause_code=rec.cause_code) if rec else None,
                provenance=prov)
    raise ValueError(op_name)


# ------------------------------------------------------------------ case checks

CHECK_STATUS = {"OK": pb.CHECK_STATUS_OK, "ATTENTION": pb.CHECK_STATUS_ATTENTION,
                "UNAVAILABLE": pb.CHECK_STATUS_UNAVAILABLE, "PENDING": pb.CHECK_STATUS_PENDING,
                "STALE": pb.CHECK_STATUS_STALE}
SEVERITY = {"INFO": pb.SEVERITY_INFO, "WARNING": pb.SEVERITY_WARNING, "BLOCKING": pb.SEVERITY_BLOCKING}
CASE_STATUS = {"CLEAR": pb.CASE_STATUS_CLEAR, "NEEDS_ATTENTION": pb.CASE_STATUS_NEEDS_ATTENTION,
               "INCOMPLETE": pb.CASE_STATUS_INCOMPLETE}


def case_request(request: pb.CheckCaseRequest) -> CaseRequest:
    return CaseRequest(
        registration_type=request.registration_type,
        parties=tuple(CaseParty(role=p.role, name=p.name, id_number=p.id_number, credit_code=p.credit_code,
                                organization_name=p.organization_name, license_code=p.license_code)
                      for p in request.parties),
        judgment_case_number=request.judgment_case_number, place_name=request.place_name,
        property_unit=request.property_unit, property_address=request.property_address,
    )


def case_check(entry: dict) -> pb.CaseCheck:
    prov = entry["provenance"]
    provenance_msg = None
    if prov is not None:
        source_time = datetime.fromisoformat(prov["source_time"]) if prov["source_time"] else None
        provenance_msg = pb.Provenance(
            department=DEPARTMENT[m.Department(prov["department"])], source_time=_timestamp(source_time),
            from_cache=prov["from_cache"], cache_age_seconds=prov["cache_age_seconds"], stale=prov["stale"],
            audit_id=prov["audit_id"], request_id=prov["request_id"], unavailable_reason=prov["unavailable_reason"])
    return pb.CaseCheck(check_id=entry["check_id"], kind=entry["kind"], role=entry["role"],
                        party_index=entry["party_index"], status=CHECK_STATUS[entry["status"]],
                        summary=entry["summary"], provenance=provenance_msg)


def case_response(result: CaseResult) -> pb.CheckCaseResponse:
    record = result.record
    return pb.CheckCaseResponse(
        status=CASE_STATUS[record["status"]],
        checks=[case_check(c) for c in record["checks"]],
        findings=[pb.Finding(code=x["code"], severity=SEVERITY[x["severity"]], message=x["message"],
                             check_ids=x["check_ids"]) for x in record["findings"]],
        handle=record["handle"], record_id=record["record_id"], record_json=result.record_json,
        record_digest=result.record_digest, record_signature=result.record_signature,
        complete=record.get("complete", True), recheck=record.get("by_hand", []),
        status_text=record.get("status_text", ""),
    )
