import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Department(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPARTMENT_UNSPECIFIED: _ClassVar[Department]
    DEPARTMENT_IDENTITY: _ClassVar[Department]
    DEPARTMENT_CREDIT_CODE: _ClassVar[Department]
    DEPARTMENT_MARRIAGE: _ClassVar[Department]
    DEPARTMENT_COURT: _ClassVar[Department]
    DEPARTMENT_DEATH: _ClassVar[Department]
    DEPARTMENT_PLACE_NAME: _ClassVar[Department]
    DEPARTMENT_FINANCIAL_LICENSE: _ClassVar[Department]
    DEPARTMENT_ORGAN: _ClassVar[Department]
    DEPARTMENT_SOCIAL_ORG: _ClassVar[Department]
    DEPARTMENT_CREMATION: _ClassVar[Department]

class IdentityVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IDENTITY_VERDICT_UNSPECIFIED: _ClassVar[IdentityVerdict]
    IDENTITY_VERDICT_MATCH: _ClassVar[IdentityVerdict]
    IDENTITY_VERDICT_MISMATCH: _ClassVar[IdentityVerdict]
    IDENTITY_VERDICT_NOT_FOUND: _ClassVar[IdentityVerdict]
    IDENTITY_VERDICT_SOURCE_UNAVAILABLE: _ClassVar[IdentityVerdict]

class IdentityItem(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IDENTITY_ITEM_UNSPECIFIED: _ClassVar[IdentityItem]
    IDENTITY_ITEM_NAME: _ClassVar[IdentityItem]
    IDENTITY_ITEM_ID_NUMBER: _ClassVar[IdentityItem]

class OrganizationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORGANIZATION_STATUS_UNSPECIFIED: _ClassVar[OrganizationStatus]
    ORGANIZATION_STATUS_ACTIVE: _ClassVar[OrganizationStatus]
    ORGANIZATION_STATUS_REVOKED: _ClassVar[OrganizationStatus]
    ORGANIZATION_STATUS_CANCELLED: _ClassVar[OrganizationStatus]

class LookupVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOOKUP_VERDICT_UNSPECIFIED: _ClassVar[LookupVerdict]
    LOOKUP_VERDICT_FOUND: _ClassVar[LookupVerdict]
    LOOKUP_VERDICT_NOT_FOUND: _ClassVar[LookupVerdict]
    LOOKUP_VERDICT_SOURCE_UNAVAILABLE: _ClassVar[LookupVerdict]
    LOOKUP_VERDICT_PENDING: _ClassVar[LookupVerdict]

class EnterpriseCheckVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTERPRISE_CHECK_VERDICT_UNSPECIFIED: _ClassVar[EnterpriseCheckVerdict]
    ENTERPRISE_CHECK_VERDICT_MATCH: _ClassVar[EnterpriseCheckVerdict]
    ENTERPRISE_CHECK_VERDICT_MISMATCH: _ClassVar[EnterpriseCheckVerdict]
    ENTERPRISE_CHECK_VERDICT_NOT_FOUND: _ClassVar[EnterpriseCheckVerdict]
    ENTERPRISE_CHECK_VERDICT_SOURCE_UNAVAILABLE: _ClassVar[EnterpriseCheckVerdict]

class CheckOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECK_OUTCOME_UNSPECIFIED: _ClassVar[CheckOutcome]
    CHECK_OUTCOME_MATCH: _ClassVar[CheckOutcome]
    CHECK_OUTCOME_MISMATCH: _ClassVar[CheckOutcome]
    CHECK_OUTCOME_NOT_FOUND: _ClassVar[CheckOutcome]

class MaritalStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MARITAL_STATUS_UNSPECIFIED: _ClassVar[MaritalStatus]
    MARITAL_STATUS_NO_RECORD: _ClassVar[MaritalStatus]
    MARITAL_STATUS_MARRIED: _ClassVar[MaritalStatus]
    MARITAL_STATUS_DIVORCED: _ClassVar[MaritalStatus]
    MARITAL_STATUS_ANNULLED: _ClassVar[MaritalStatus]

class MarriageAct(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MARRIAGE_ACT_UNSPECIFIED: _ClassVar[MarriageAct]
    MARRIAGE_ACT_MARRIAGE: _ClassVar[MarriageAct]
    MARRIAGE_ACT_DIVORCE: _ClassVar[MarriageAct]
    MARRIAGE_ACT_REISSUE: _ClassVar[MarriageAct]
    MARRIAGE_ACT_REISSUE_MARRIAGE: _ClassVar[MarriageAct]
    MARRIAGE_ACT_REISSUE_DIVORCE: _ClassVar[MarriageAct]
    MARRIAGE_ACT_ANNULMENT: _ClassVar[MarriageAct]
    MARRIAGE_ACT_OTHER: _ClassVar[MarriageAct]

class CheckStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECK_STATUS_UNSPECIFIED: _ClassVar[CheckStatus]
    CHECK_STATUS_OK: _ClassVar[CheckStatus]
    CHECK_STATUS_ATTENTION: _ClassVar[CheckStatus]
    CHECK_STATUS_UNAVAILABLE: _ClassVar[CheckStatus]
    CHECK_STATUS_PENDING: _ClassVar[CheckStatus]
    CHECK_STATUS_STALE: _ClassVar[CheckStatus]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_INFO: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
    SEVERITY_BLOCKING: _ClassVar[Severity]

class CaseStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CASE_STATUS_UNSPECIFIED: _ClassVar[CaseStatus]
    CASE_STATUS_CLEAR: _ClassVar[CaseStatus]
    CASE_STATUS_NEEDS_ATTENTION: _ClassVar[CaseStatus]
    CASE_STATUS_INCOMPLETE: _ClassVar[CaseStatus]
DEPARTMENT_UNSPECIFIED: Department
DEPARTMENT_IDENTITY: Department
DEPARTMENT_CREDIT_CODE: Department
DEPARTMENT_MARRIAGE: Department
DEPARTMENT_COURT: Department
DEPARTMENT_DEATH: Department
DEPARTMENT_PLACE_NAME: Department
DEPARTMENT_FINANCIAL_LICENSE: Department
DEPARTMENT_ORGAN: Department
DEPARTMENT_SOCIAL_ORG: Department
DEPARTMENT_CREMATION: Department
IDENTITY_VERDICT_UNSPECIFIED: IdentityVerdict
IDENTITY_VERDICT_MATCH: IdentityVerdict
IDENTITY_VERDICT_MISMATCH: IdentityVerdict
IDENTITY_VERDICT_NOT_FOUND: IdentityVerdict
IDENTITY_VERDICT_SOURCE_UNAVAILABLE: IdentityVerdict
IDENTITY_ITEM_UNSPECIFIED: IdentityItem
IDENTITY_ITEM_NAME: IdentityItem
IDENTITY_ITEM_ID_NUMBER: IdentityItem
ORGANIZATION_STATUS_UNSPECIFIED: OrganizationStatus
ORGANIZATION_STATUS_ACTIVE: OrganizationStatus
ORGANIZATION_STATUS_REVOKED: OrganizationStatus
ORGANIZATION_STATUS_CANCELLED: OrganizationStatus
LOOKUP_VERDICT_UNSPECIFIED: LookupVerdict
LOOKUP_VERDICT_FOUND: LookupVerdict
LOOKUP_VERDICT_NOT_FOUND: LookupVerdict
LOOKUP_VERDICT_SOURCE_UNAVAILABLE: LookupVerdict
LOOKUP_VERDICT_PENDING: LookupVerdict
ENTERPRISE_CHECK_VERDICT_UNSPECIFIED: EnterpriseCheckVerdict
ENTERPRISE_CHECK_VERDICT_MATCH: EnterpriseCheckVerdict
ENTERPRISE_CHECK_VERDICT_MISMATCH: EnterpriseCheckVerdict
ENTERPRISE_CHECK_VERDICT_NOT_FOUND: EnterpriseCheckVerdict
ENTERPRISE_CHECK_VERDICT_SOURCE_UNAVAILABLE: EnterpriseCheckVerdict
CHECK_OUTCOME_UNSPECIFIED: CheckOutcome
CHECK_OUTCOME_MATCH: CheckOutcome
CHECK_OUTCOME_MISMATCH: CheckOutcome
CHECK_OUTCOME_NOT_FOUND: CheckOutcome
MARITAL_STATUS_UNSPECIFIED: MaritalStatus
MARITAL_STATUS_NO_RECORD: MaritalStatus
MARITAL_STATUS_MARRIED: MaritalStatus
MARITAL_STATUS_DIVORCED: MaritalStatus
MARITAL_STATUS_ANNULLED: MaritalStatus
MARRIAGE_ACT_UNSPECIFIED: MarriageAct
MARRIAGE_ACT_MARRIAGE: MarriageAct
MARRIAGE_ACT_DIVORCE: MarriageAct
MARRIAGE_ACT_REISSUE: MarriageAct
MARRIAGE_ACT_REISSUE_MARRIAGE: MarriageAct
MARRIAGE_ACT_REISSUE_DIVORCE: MarriageAct
MARRIAGE_ACT_ANNULMENT: MarriageAct
MARRIAGE_ACT_OTHER: MarriageAct
CHECK_STATUS_UNSPECIFIED: CheckStatus
CHECK_STATUS_OK: CheckStatus
CHECK_STATUS_ATTENTION: CheckStatus
CHECK_STATUS_UNAVAILABLE: CheckStatus
CHECK_STATUS_PENDING: CheckStatus
CHECK_STATUS_STALE: CheckStatus
SEVERITY_UNSPECIFIED: Severity
SEVERITY_INFO: Severity
SEVERITY_WARNING: Severity
SEVERITY_BLOCKING: Severity
CASE_STATUS_UNSPECIFIED: CaseStatus
CASE_STATUS_CLEAR: CaseStatus
CASE_STATUS_NEEDS_ATTENTION: CaseStatus
CASE_STATUS_INCOMPLETE: CaseStatus

class RequestContext(_message.Message):
    __slots__ = ("case_number", "operator_id", "purpose", "request_id", "fresh")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FRESH_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    operator_id: str
    purpose: str
    request_id: str
    fresh: bool
    def __init__(self, case_number: _Optional[str] = ..., operator_id: _Optional[str] = ..., purpose: _Optional[str] = ..., request_id: _Optional[str] = ..., fresh: _Optional[bool] = ...) -> None: ...

class Provenance(_message.Message):
    __slots__ = ("department", "source_time", "from_cache", "cache_age_seconds", "stale", "audit_id", "request_id", "unavailable_reason")
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TIME_FIELD_NUMBER: _ClassVar[int]
    FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    CACHE_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    AUDIT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    department: Department
    source_time: _timestamp_pb2.Timestamp
    from_cache: bool
    cache_age_seconds: float
    stale: bool
    audit_id: str
    request_id: str
    unavailable_reason: str
    def __init__(self, department: _Optional[_Union[Department, str]] = ..., source_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., from_cache: _Optional[bool] = ..., cache_age_seconds: _Optional[float] = ..., stale: _Optional[bool] = ..., audit_id: _Optional[str] = ..., request_id: _Optional[str] = ..., unavailable_reason: _Optional[str] = ...) -> None: ...

class VerifyIdentityRequest(_message.Message):
    __slots__ = ("context", "id_number", "name")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    context: RequestContext
    id_number: str
    name: str
    def __init__(self, context: _Optional[_Union[RequestContext, _Mapping]] = ..., id_number: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class VerifyIdentityResponse(_message.Message):
    __slots__ = ("verdict", "mismatched_items", "warnings", "provenance")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    MISMATCHED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    verdict: IdentityVerdict
    mismatched_items: _containers.RepeatedScalarFieldContainer[IdentityItem]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    provenance: Provenance
    def __init__(self, verdict: _Optional[_Union[IdentityVerdict, str]] = ..., mismatched_items: _Optional[_Iterable[_Union[IdentityItem, str]]] = ..., warnings: _Optional[_Iterable[str]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class LookupOrganizationRequest(_message.Message):
    __slots__ = ("context", "credit_code", "name")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    context: RequestContext
    credit_code: str
    name: str
    def __init__(self, context: _Optional[_Union[RequestContext, _Mapping]] = ..., credit_code: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class Organization(_message.Message):
    __slots__ = ("credit_code", "name", "legal_representative", "org_type", "domicile", "registered_capital", "established_on", "issuing_office", "status", "status_text", "scope")
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LEGAL_REPRESENTATIVE_FIELD_NUMBER: _ClassVar[int]
    ORG_TYPE_FIELD_NUMBER: _ClassVar[int]
    DOMICILE_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_CAPITAL_FIELD_NUMBER: _ClassVar[int]
    ESTABLISHED_ON_FIELD_NUMBER: _ClassVar[int]
    ISSUING_OFFICE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_TEXT_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    credit_code: str
    name: str
    legal_representative: str
    org_type: str
    domicile: str
    registered_capital: str
    established_on: str
    issuing_office: str
    status: OrganizationStatus
    status_text: str
    scope: str
    def __init__(self, credit_code: _Optional[str] = ..., name: _Optional[str] = ..., legal_representative: _Optional[str] = ..., org_type: _Optional[str] = ..., domicile: _Optional[str] = ..., registered_capital: _Optional[str] = ..., established_on: _Optional[str] = ..., issuing_office: _Optional[str] = ..., status: _Optional[_Union[OrganizationStatus, str]] = ..., status_text: _Optional[str] = ..., scope: _Optional[str] = ...) -> None: ...

class LookupOrganizationResponse(_message.Message):
    __slots__ = ("verdict", "organizations", "warnings", "provenance")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATIONS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    verdict: LookupVerdict
    organizations: _containers.RepeatedCompositeFieldContainer[Organization]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    provenance: Provenance
    def __init__(self, verdict: _Optional[_Union[LookupVerdict, str]] = ..., organizations: _Optional[_Iterable[_Union[Organization, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class VerifyEnterpriseRequest(_message.Message):
    __slots__ = ("context", "credit_code", "name")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    context: RequestContext
    credit_code: str
    name: str
    def __init__(self, context: _Optional[_Union[RequestContext, _Mapping]] = ..., credit_code: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class Difference(_message.Message):
    __slots__ = ("item", "given", "registered")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    GIVEN_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    item: str
    given: str
    registered: str
    def __init__(self, item: _Optional[str] = ..., given: _Optional[str] = ..., registered: _Optional[str] = ...) -> None: ...

class VerifyEnterpriseResponse(_message.Message):
    __slots__ = ("verdict", "outcome", "status", "status_text", "differences", "warnings", "provenance")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_TEXT_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCES_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    verdict: EnterpriseCheckVerdict
    outcome: CheckOutcome
    status: str
    status_text: str
    differences: _containers.RepeatedCompositeFieldContainer[Difference]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    provenance: Provenance
    def __init__(self, verdict: _Optional[_Union[EnterpriseCheckVerdict, str]] = ..., outcome: _Optional[_Union[CheckOutcome, str]] = ..., status: _Optional[str] = ..., status_text: _Optional[str] = ..., differences: _Optional[_Iterable[_Union[Difference, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class QueryFinancialLicenseRequest(_message.Message):
    __slots__ = ("context", "license_code", "institution_name")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    LICENSE_CODE_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_NAME_FIELD_NUMBER: _ClassVar[int]
    context: RequestContext
    license_code: str
    institution_name: str
    def __init__(self, context: _Optional[_Union[RequestContext, _Mapping]] = ..., license_code: _Optional[str] = ..., institution_name: _Optional[str] = ...) -> None: ...

class FinancialLicense(_message.Message):
    __slots__ = ("license_code", "serial_number", "institution_name", "short_name", "english_name", "institution_type", "address", "scope", "issuing_office", "approved_on", "issued_on", "valid", "credit_code")
    LICENSE_CODE_FIELD_NUMBER: _ClassVar[int]
    SERIAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_NAME_FIELD_NUMBER: _ClassVar[int]
    SHORT_NAME_FIELD_NUMBER: _ClassVar[int]
    ENGLISH_NAME_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ISSUING_OFFICE_FIELD_NUMBER: _ClassVar[int]
    APPROVED_ON_FIELD_NUMBER: _ClassVar[int]
    ISSUED_ON_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    license_code: str
    serial_number: str
    institution_name: str
    short_name: str
    english_name: str
    institution_type: str
    address: str
    scope: str
    issuing_office: str
    approved_on: str
    issued_on: str
    valid: bool
    credit_code: str
    def __init__(self, license_code: _Optional[str] = ..., serial_number: _Optional[str] = ..., institution_name: _Optional[str] = ..., short_name: _Optional[str] = ..., english_name: _Optional[str] = ..., institution_type: _Optional[str] = ..., address: _Optional[str] = ..., scope: _Optional[str] = ..., issuing_office: _Optional[str] = ..., approved_on: _Optional[str] = ..., issued_on: _Optional[str] = ..., valid: _Optional[bool] = ..., credit_code: _Optional[str] = ...) -> None: ...

class QueryFinancialLicenseResponse(_message.Message):
    __slots__ = ("verdict", "licenses", "provenance")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    LICENSES_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    verdict: LookupVerdict
    licenses: _containers.RepeatedCompositeFieldContainer[FinancialLicense]
    provenance: Provenance
    def __init__(self, verdict: _Optional[_Union[LookupVerdict, str]] = ..., licenses: _Optional[_Iterable[_Union[FinancialLicense, _Mapping]]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class QueryJudgmentsRequest(_message.Message):
    __slots__ = ("context", "case_number", "party_name")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PARTY_NAME_FIELD_NUMBER: _ClassVar[int]
    context: RequestContext
    case_number: str
    party_name: str
    def __init__(self, context: _Optional[_Union[RequestContext, _Mapping]] = ..., case_number: _Optional[str] = ..., party_name: _Optional[str] = ...) -> None: ...

class Party(_message.Message):
    __slots__ = ("name", "role", "id_number")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    name: str
    role: str
    id_number: str
    def __init__(self, name: _Optional[str] = ..., role: _Optional[str] = ..., id_number: _Optional[str] = ...) -> None: ...

class Judgment(_message.Message):
    __slots__ = ("case_number", "court", "cause", "decided_on", "parties", "operative_text", "document_type")
    CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    COURT_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    DECIDED_ON_FIELD_NUMBER: _ClassVar[int]
    PARTIES_FIELD_NUMBER: _ClassVar[int]
    OPERATIVE_TEXT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    case_number: str
    court: str
    cause: str
    decided_on: str
    parties: _containers.RepeatedCompositeFieldContainer[Party]
    operative_text: str
    document_type: str
    def __init__(self, case_number: _Optional[str] = ..., court: _Optional[str] = ..., cause: _Optional[str] = ..., decided_on: _Optional[str] = ..., parties: _Optional[_Iterable[_Union[Party, _Mapping]]] = ..., operative_text: _Optional[str] = ..., document_type: _Optional[str] = ...) -> None: ...

class QueryJudgmentsResponse(_message.Message):
    __slots__ = ("verdict", "judgments", "pending", "provenance")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    JUDGMENTS_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    verdict: LookupVerdict
    judgments: _containers.RepeatedCompositeFieldContainer[Judgment]
    pending: bool
    provenance: Provenance
    def __init__(self, verdict: _Optional[_Union[LookupVerdict, str]] = ..., judgments: _Optional[_Iterable[_Union[Judgment, _Mapping]]] = ..., pending: _Optional[bool] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class QueryMarriageRequest(_message.Message):
    __slots__ = ("context", "id_number", "name", "spouse_id_number", "spouse_name")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPOUSE_ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SPOUSE_NAME_FIELD_NUMBER: _ClassVar[int]
    context: RequestContext
    id_number: str
    name: str
    spouse_id_number: str
    spouse_name: str
    def __init__(self, context: _Optional[_Union[RequestContext, _Mapping]] = ..., id_number: _Optional[str] = ..., name: _Optional[str] = ..., spouse_id_number: _Optional[str] = ..., spouse_name: _Optional[str] = ...) -> None: ...

class MarriageRecord(_message.Message):
    __slots__ = ("act", "registered_on", "office_name", "office_code", "certificate_number", "party_name", "party_id_number", "spouse_name", "spouse_id_number", "op_type")
    ACT_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_ON_FIELD_NUMBER: _ClassVar[int]
    OFFICE_NAME_FIELD_NUMBER: _ClassVar[int]
    OFFICE_CODE_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PARTY_NAME_FIELD_NUMBER: _ClassVar[int]
    PARTY_ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SPOUSE_NAME_FIELD_NUMBER: _ClassVar[int]
    SPOUSE_ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OP_TYPE_FIELD_NUMBER: _ClassVar[int]
    act: MarriageAct
    registered_on: str
    office_name: str
    office_code: str
    certificate_number: str
    party_name: str
    party_id_number: str
    spouse_name: str
    spouse_id_number: str
    op_type: str
    def __init__(self, act: _Optional[_Union[MarriageAct, str]] = ..., registered_on: _Optional[str] = ..., office_name: _Optional[str] = ..., office_code: _Optional[str] = ..., certificate_number: _Optional[str] = ..., party_name: _Optional[str] = ..., party_id_number: _Optional[str] = ..., spouse_name: _Optional[str] = ..., spouse_id_number: _Optional[str] = ..., op_type: _Optional[str] = ...) -> None: ...

class QueryMarriageResponse(_message.Message):
    __slots__ = ("status", "spouse_name", "spouse_id_number", "married_to_each_other", "records", "verdict", "provenance")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SPOUSE_NAME_FIELD_NUMBER: _ClassVar[int]
    SPOUSE_ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MARRIED_TO_EACH_OTHER_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    status: MaritalStatus
    spouse_name: str
    spouse_id_number: str
    married_to_each_other: bool
    records: _containers.RepeatedCompositeFieldContainer[MarriageRecord]
    verdict: LookupVerdict
    provenance: Provenance
    def __init__(self, status: _Optional[_Union[MaritalStatus, str]] = ..., spouse_name: _Optional[str] = ..., spouse_id_number: _Optional[str] = ..., married_to_each_other: _Optional[bool] = ..., records: _Optional[_Iterable[_Union[MarriageRecord, _Mapping]]] = ..., verdict: _Optional[_Union[LookupVerdict, str]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class QueryPlaceNamesRequest(_message.Message):
    __slots__ = ("context", "name", "division_code", "prefix", "limit")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIVISION_CODE_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    context: RequestContext
    name: str
    division_code: str
    prefix: bool
    limit: int
    def __init__(self, context: _Optional[_Union[RequestContext, _Mapping]] = ..., name: _Optional[str] = ..., division_code: _Optional[str] = ..., prefix: _Optional[bool] = ..., limit: _Optional[int] = ...) -> None: ...

class PlaceName(_message.Message):
    __slots__ = ("name", "roman", "place_type", "place_type_code", "code", "division_code", "division_name", "longitude", "latitude", "meaning", "history")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROMAN_FIELD_NUMBER: _ClassVar[int]
    PLACE_TYPE_FIELD_NUMBER: _ClassVar[int]
    PLACE_TYPE_CODE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DIVISION_CODE_FIELD_NUMBER: _ClassVar[int]
    DIVISION_NAME_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    MEANING_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    name: str
    roman: str
    place_type: str
    place_type_code: str
    code: str
    division_code: str
    division_name: str
    longitude: float
    latitude: float
    meaning: str
    history: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., roman: _Optional[str] = ..., place_type: _Optional[str] = ..., place_type_code: _Optional[str] = ..., code: _Optional[str] = ..., division_code: _Optional[str] = ..., division_name: _Optional[str] = ..., longitude: _Optional[float] = ..., latitude: _Optional[float] = ..., meaning: _Optional[str] = ..., history: _Optional[_Iterable[str]] = ...) -> None: ...

class QueryPlaceNamesResponse(_message.Message):
    __slots__ = ("verdict", "places", "provenance")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    PLACES_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    verdict: LookupVerdict
    places: _containers.RepeatedCompositeFieldContainer[PlaceName]
    provenance: Provenance
    def __init__(self, verdict: _Optional[_Union[LookupVerdict, str]] = ..., places: _Optional[_Iterable[_Union[PlaceName, _Mapping]]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class QueryDeathRequest(_message.Message):
    __slots__ = ("context", "id_number", "name")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    context: RequestContext
    id_number: str
    name: str
    def __init__(self, context: _Optional[_Union[RequestContext, _Mapping]] = ..., id_number: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DeathRecord(_message.Message):
    __slots__ = ("died_on", "certificate_number", "issuer", "cause_code")
    DIED_ON_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    CAUSE_CODE_FIELD_NUMBER: _ClassVar[int]
    died_on: str
    certificate_number: str
    issuer: str
    cause_code: str
    def __init__(self, died_on: _Optional[str] = ..., certificate_number: _Optional[str] = ..., issuer: _Optional[str] = ..., cause_code: _Optional[str] = ...) -> None: ...

class QueryDeathResponse(_message.Message):
    __slots__ = ("verdict", "record", "provenance")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    verdict: LookupVerdict
    record: DeathRecord
    provenance: Provenance
    def __init__(self, verdict: _Optional[_Union[LookupVerdict, str]] = ..., record: _Optional[_Union[DeathRecord, _Mapping]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class CaseParty(_message.Message):
    __slots__ = ("role", "name", "id_number", "credit_code", "organization_name", "license_code")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_NAME_FIELD_NUMBER: _ClassVar[int]
    LICENSE_CODE_FIELD_NUMBER: _ClassVar[int]
    role: str
    name: str
    id_number: str
    credit_code: str
    organization_name: str
    license_code: str
    def __init__(self, role: _Optional[str] = ..., name: _Optional[str] = ..., id_number: _Optional[str] = ..., credit_code: _Optional[str] = ..., organization_name: _Optional[str] = ..., license_code: _Optional[str] = ...) -> None: ...

class CheckCaseRequest(_message.Message):
    __slots__ = ("context", "registration_type", "parties", "judgment_case_number", "place_name", "property_unit", "property_address")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    PARTIES_FIELD_NUMBER: _ClassVar[int]
    JUDGMENT_CASE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PLACE_NAME_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_UNIT_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    context: RequestContext
    registration_type: str
    parties: _containers.RepeatedCompositeFieldContainer[CaseParty]
    judgment_case_number: str
    place_name: str
    property_unit: str
    property_address: str
    def __init__(self, context: _Optional[_Union[RequestContext, _Mapping]] = ..., registration_type: _Optional[str] = ..., parties: _Optional[_Iterable[_Union[CaseParty, _Mapping]]] = ..., judgment_case_number: _Optional[str] = ..., place_name: _Optional[str] = ..., property_unit: _Optional[str] = ..., property_address: _Optional[str] = ...) -> None: ...

class CaseCheck(_message.Message):
    __slots__ = ("check_id", "kind", "role", "party_index", "status", "summary", "provenance")
    CHECK_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PARTY_INDEX_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    check_id: str
    kind: str
    role: str
    party_index: int
    status: CheckStatus
    summary: str
    provenance: Provenance
    def __init__(self, check_id: _Optional[str] = ..., kind: _Optional[str] = ..., role: _Optional[str] = ..., party_index: _Optional[int] = ..., status: _Optional[_Union[CheckStatus, str]] = ..., summary: _Optional[str] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class Finding(_message.Message):
    __slots__ = ("code", "severity", "message", "check_ids")
    CODE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CHECK_IDS_FIELD_NUMBER: _ClassVar[int]
    code: str
    severity: Severity
    message: str
    check_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, code: _Optional[str] = ..., severity: _Optional[_Union[Severity, str]] = ..., message: _Optional[str] = ..., check_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CheckCaseResponse(_message.Message):
    __slots__ = ("status", "checks", "findings", "handle", "record_id", "record_json", "record_digest", "record_signature", "complete", "recheck", "status_text")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    RECORD_JSON_FIELD_NUMBER: _ClassVar[int]
    RECORD_DIGEST_FIELD_NUMBER: _ClassVar[int]
    RECORD_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    RECHECK_FIELD_NUMBER: _ClassVar[int]
    STATUS_TEXT_FIELD_NUMBER: _ClassVar[int]
    status: CaseStatus
    checks: _containers.RepeatedCompositeFieldContainer[CaseCheck]
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    handle: str
    record_id: str
    record_json: bytes
    record_digest: str
    record_signature: str
    complete: bool
    recheck: _containers.RepeatedScalarFieldContainer[str]
    status_text: str
    def __init__(self, status: _Optional[_Union[CaseStatus, str]] = ..., checks: _Optional[_Iterable[_Union[CaseCheck, _Mapping]]] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ..., handle: _Optional[str] = ..., record_id: _Optional[str] = ..., record_json: _Optional[bytes] = ..., record_digest: _Optional[str] = ..., record_signature: _Optional[str] = ..., complete: _Optional[bool] = ..., recheck: _Optional[_Iterable[str]] = ..., status_text: _Optional[str] = ...) -> None: ...

class CheckCaseEvent(_message.Message):
    __slots__ = ("check", "summary")
    CHECK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    check: CaseCheck
    summary: CheckCaseResponse
    def __init__(self, check: _Optional[_Union[CaseCheck, _Mapping]] = ..., summary: _Optional[_Union[CheckCaseResponse, _Mapping]] = ...) -> None: ...

class GetCaseResultRequest(_message.Message):
    __slots__ = ("context", "handle")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    context: RequestContext
    handle: str
    def __init__(self, context: _Optional[_Union[RequestContext, _Mapping]] = ..., handle: _Optional[str] = ...) -> None: ...

class LookupOrganRequest(_message.Message):
    __slots__ = ("context", "credit_code", "name")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    context: RequestContext
    credit_code: str
    name: str
    def __init__(self, context: _Optional[_Union[RequestContext, _Mapping]] = ..., credit_code: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class LookupOrganResponse(_message.Message):
    __slots__ = ("verdict", "organizations", "warnings", "provenance")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATIONS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    verdict: LookupVerdict
    organizations: _containers.RepeatedCompositeFieldContainer[Organization]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    provenance: Provenance
    def __init__(self, verdict: _Optional[_Union[LookupVerdict, str]] = ..., organizations: _Optional[_Iterable[_Union[Organization, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class LookupSocialOrganizationRequest(_message.Message):
    __slots__ = ("context", "credit_code", "name")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    context: RequestContext
    credit_code: str
    name: str
    def __init__(self, context: _Optional[_Union[RequestContext, _Mapping]] = ..., credit_code: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class LookupSocialOrganizationResponse(_message.Message):
    __slots__ = ("verdict", "organizations", "warnings", "provenance")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATIONS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    verdict: LookupVerdict
    organizations: _containers.RepeatedCompositeFieldContainer[Organization]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    provenance: Provenance
    def __init__(self, verdict: _Optional[_Union[LookupVerdict, str]] = ..., organizations: _Optional[_Iterable[_Union[Organization, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class QueryCremationRequest(_message.Message):
    __slots__ = ("context", "id_number", "name")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    context: RequestContext
    id_number: str
    name: str
    def __init__(self, context: _Optional[_Union[RequestContext, _Mapping]] = ..., id_number: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class CremationRecord(_message.Message):
    __slots__ = ("died_on", "cremated_on")
    DIED_ON_FIELD_NUMBER: _ClassVar[int]
    CREMATED_ON_FIELD_NUMBER: _ClassVar[int]
    died_on: str
    cremated_on: str
    def __init__(self, died_on: _Optional[str] = ..., cremated_on: _Optional[str] = ...) -> None: ...

class QueryCremationResponse(_message.Message):
    __slots__ = ("verdict", "records", "provenance")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    verdict: LookupVerdict
    records: _containers.RepeatedCompositeFieldContainer[CremationRecord]
    provenance: Provenance
    def __init__(self, verdict: _Optional[_Union[LookupVerdict, str]] = ..., records: _Optional[_Iterable[_Union[CremationRecord, _Mapping]]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...
