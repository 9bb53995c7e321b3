"""Every error the hub can raise, in one place, grouped by kind.

Front ends translate these through one table each (`querynode/api/errors.py`).
Messages never contain personal data: they name fields and departments, never values.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from querynode.domain.fields import param_of
from querynode.domain.model import RequestContext

# Chinese names of the fields of the case request and of the request envelope, which no
# operation declares, and the validators' default field names (domain/identifiers.py): the
# last part of a dotted path; `parties[2].` is read by `field_label`.
# An operation's query fields are named by the labels its declaration gives (`declared_labels`),
# the request context's by its params.
FIELD_LABELS = {
    "id_number": "身份证号", "name": "姓名", "credit_code": "统一社会信用代码", "license_code": "金融许可证机构编码",
    "organization_name": "机构名称", "case_number": "案号", "judgment_case_number": "案号",
    "division_code": "行政区划代码", "place_name": "地名",
    "property_unit": "不动产单元号", "property_address": "坐落", "role": "角色", "registration_type": "登记类型",
    "parties": "当事人", "handle": "句柄", "body": "请求体", "context": "请求上下文", "query": "查询",
}
_CONTEXT_LABELS = {f.name: p.label for f in dataclasses.fields(RequestContext) if (p := param_of(f))} | {
    "request_id": "请求编号", "fresh": "不用缓存"}

# The labels of the query being validated, field name -> Chinese, as its operation declares
# them; set around an operation's validation (core/validate.py), so that one field name
# ("name": 姓名, 单位名称, 地名) is named as each operation names it.
_DECLARED: ContextVar[Mapping[str, str]] = ContextVar("declared_labels", default={})


@contextmanager
def declared_labels(labels: Mapping[str, str]) -> Iterator[None]:
    """Name the fields of violations and warnings made within by these labels."""
    token = _DECLARED.set(labels)
    try:
        yield
    finally:
        _DECLARED.reset(token)

# Stable machine codes of validation failures and the Chinese text each one gives. API
# clients act on the code; people read the text (with the field's name in front).
MESSAGES = {
    "REQUIRED": "必填",
    "NOT_A_STRING": "应为文本",
    "NOT_A_BOOLEAN": "应为 true 或 false",
    "NOT_AN_INTEGER": "应为整数",
    "TOO_LONG": "超过 {max} 个字符",
    "TOO_SHORT": "至少需要 {min} 个字符",
    "INVALID_UNICODE": "含有无效的 Unicode 字符（代理项或非字符）",
    "INVISIBLE_CHARACTER": "含有不可见字符（零宽字符或 BOM）",
    "CONTROL_CHARACTER": "含有控制字符",
    "MARKUP": "含有尖括号等标记字符",
    "UNKNOWN_FIELD": "不是可识别的字段",
    "NOT_A_LIST": "应为列表",
    "NOT_AN_OBJECT": "应为 JSON 对象",
    "CONTEXT_REQUIRED": "必填（受理编号、操作员、查询事由）",
    "ONE_OF": "应且只应填写其中一项",
    "OUT_OF_RANGE": "应在 {low} 到 {high} 之间",
    "UNKNOWN_QUERY": "未知的查询类型",
    "INVALID_VALUE": "取值无效",
    "ID_LENGTH": "应为 18 位（旧版 15 位号码或 15 位旧版外国人永久居留证号码亦可）",
    "ID_NON_ASCII_DIGIT": "含有 0-9 以外的数字字符（如上标或其他文字的数字），请用 0-9 填写",
    "ID_CHARACTERS": "应为 17 位数字加 1 位数字或 X",
    "ID_CHECK_CHARACTER": "校验位不符（GB 11643）",
    "ID_BIRTH_DATE": "出生日期不是有效日期",
    "ID_BIRTH_FUTURE": "出生日期晚于今天",
    "ID_BIRTH_TOO_EARLY": "出生日期早于 1880 年",
    "ID_REGION": "地址码不是有效的行政区划代码",
    "ID_FOREIGN_CARD": "外国人永久居留身份证号码的省份或国籍代码无效",
    "ID_OLD_FOREIGN_CARD": "旧版外国人永久居留证号码应为 3 位国籍字母代码加 12 位数字（受理地、出生日期、顺序号）",
    "NAME_CHARACTERS": "只能包含汉字、拉丁字母、间隔号·、撇号、连字符和空格",
    "NAME_SEPARATOR": "间隔号、撇号、连字符只能位于名字各部分之间",
    "CREDIT_LENGTH": "应为 18 位",
    "CREDIT_CHARACTERS": "只能包含 0-9 和除 I、O、Z、S、V 以外的大写字母",
    "CREDIT_DEPARTMENT": "登记管理部门代码（第 1 位）无效（GB 32100）",
    "CREDIT_CATEGORY": "机构类别代码（第 2 位）与登记管理部门不符（GB 32100）",
    "CREDIT_REGION": "登记管理机关行政区划码（第 3-8 位）无效（GB 32100）",
    "CREDIT_ORGANIZATION_CODE": "主体标识码（组织机构代码，第 9-17 位）校验位不符（GB 11714）",
    "LICENSE_FORMAT": "应为 1 个字母、4 位数字、1 个字母和 9 位数字，例如 B0001H111000001",
    "LICENSE_REGION": "所含行政区划代码（第 8-13 位）无效",
    "CASE_NUMBER_FORMAT": "不是有效的案号，例如（2023）京0105民初1234号",
    "CASE_NUMBER_YEAR": "年份超出范围",
    "DIVISION_FORMAT": "应为 6 位或 12 位数字",
    "BODY_NOT_JSON": "不是有效的 UTF-8 JSON",
    "BODY_TOO_DEEP": "嵌套层数过多",
    "BODY_NOT_OBJECT": "应为 JSON 对象",
    "BODY_CONTENT_TYPE": "应为 application/json",
}

# Warnings: the value was accepted after a change the clerk should know about.
WARNINGS = {
    "INVISIBLE_REMOVED": "已去除不可见字符（零宽字符或 BOM）",
    "FULL_WIDTH_CONVERTED": "已将全角字符转换为半角",
    "LEGACY_ID_CONVERTED": "已将 15 位旧号码转换为 18 位",
    "ID_REGION_UNKNOWN": "地址码不在本节点的行政区划表中（旧证可能沿用已撤销的代码），请核对证件",
    "SPACES_REMOVED": "已去除汉字之间的空格",
    "CREDIT_CHECK_CHARACTER": "校验位不符（可能是 2015 年试点期间赋的码），请核对营业执照",
}


def field_label(field: str) -> str:
    """The Chinese name of a field path: `parties[2].id_number` -> 当事人3 身份证号."""
    if "|" in field:
        return "或".join(field_label(part) for part in field.split("|"))
    declared = _DECLARED.get()
    if field in declared:
        return declared[field]
    prefix = ""
    head, _, last = field.rpartition(".")
    if head.startswith("parties[") and head.endswith("]") and head[8:-1].isdigit():
        prefix = f"当事人{int(head[8:-1]) + 1} "
    elif head == "context" and last in _CONTEXT_LABELS:
        return _CONTEXT_LABELS[last]
    elif field.startswith("parties[") and field.endswith("]") and field[8:-1].isdigit():
        return f"当事人{int(field[8:-1]) + 1}"
    return prefix + FIELD_LABELS.get(last, last)


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field: its path, why in Chinese (no value is echoed), a stable machine
    code, and optionally the field's Chinese name where the path alone is ambiguous."""

    field: str
    description: str
    code: str = "INVALID_VALUE"
    label: str = ""

    @property
    def message(self) -> str:
        """The text for people, naming the field: 身份证号：校验位不符（GB 11643）."""
        return f"{self.label or field_label(self.field)}：{self.description}"


def violation(field: str, code: str, *, label: str = "", **params: object) -> FieldViolation:
    """The violation for a machine code, its Chinese text made from the code's template; named
    by the label it is given, else the one the field's declaration gives (fixed here, since the
    message is read after the validation is over)."""
    return FieldViolation(field, MESSAGES[code].format(**params), code, label or field_label(field))


def invalid(field: str, code: str, *, label: str = "", **params: object) -> InvalidArgument:
    """An InvalidArgument for one field and machine code."""
    return InvalidArgument([violation(field, code, label=label, **params)])


def warning(field: str, code: str, *, label: str = "") -> str:
    """A warning for the answer, naming the field: 身份证号：已将 15 位旧号码转换为 18 位."""
    return f"{label or field_label(field)}：{WARNINGS[code]}"


class QueryError(Exception):
    """Base of every error a query can end with."""

    reason = "QUERY_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(QueryError):
    """The request is malformed; nothing was asked upstream."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation] | tuple[FieldViolation, ...]) -> None:
        self.violations = tuple(violations)
        super().__init__("；".join(v.message for v in self.violations))


class Unauthenticated(QueryError):
    """The caller could not be identified."""

    reason = "UNAUTHENTICATED"


class PermissionDenied(QueryError):
    """The caller or operator may not make this query."""

    reason = "PERMISSION_DENIED"


class ResourceExhausted(QueryError):
    """A local limit (bulkhead, quota) refused the call before the deadline."""

    reason = "RESOURCE_EXHAUSTED"


class DeadlineExceeded(QueryError):
    """The call's deadline passed before an answer could be produced."""

    reason = "DEADLINE_EXCEEDED"


class AuditUnavailable(QueryError):
    """The audit store cannot record the query; the node fails closed."""

    reason = "AUDIT_UNAVAILABLE"


class NotFound(QueryError):
    """A node-side object (case handle, record id) does not exist."""

    reason = "NOT_FOUND"


class Unimplemented(QueryError):
    """The operation is part of the contract but not served by this node."""

    reason = "UNIMPLEMENTED"
