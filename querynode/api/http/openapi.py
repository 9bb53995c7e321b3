"""The OpenAPI 3.1 description of the JSON API, built from the operation registry: one path per
operation, its request schema from the query type's fields and their params, its scope."""
from __future__ import annotations

import dataclasses

from querynode.core.operations import field_type, registry
from querynode.core.validate import TYPE_NAMES
from querynode.domain.fields import param_of, required
from querynode.domain.model import RequestContext

_CONTEXT_FIELDS = [f for f in dataclasses.fields(RequestContext) if param_of(f) is not None]
CONTEXT_SCHEMA = {
    "type": "object",
    "required": [f.name for f in _CONTEXT_FIELDS],
    "additionalProperties": False,
    "properties": {
        **{f.name: {"type": "string", "minLength": param_of(f).min_length, "maxLength": param_of(f).max_length,
                    "description": param_of(f).description or param_of(f).label} for f in _CONTEXT_FIELDS},
        "request_id": {"type": "string", "description": "Kept when it is at most 64 of A-Z a-z 0-9 . _ : -, "
                                                        "else replaced by a new id (see X-Request-Id)"},
        "fresh": {"type": "boolean", "description": "Bypass the cache"},
    },
}

PROBLEM_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
        "invalid_params": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "code": {"type": "string"}, "reason": {"type": "string"}}}},
    },
}

ANSWER_SCHEMA = {
    "type": "object",
    "required": ["verdict", "result", "provenance"],
    "properties": {
        "verdict": {"type": "string", "enum": ["MATCH", "MISMATCH", "NOT_FOUND", "FOUND", "PENDING", "SOURCE_UNAVAILABLE"]},
        "result": {"type": ["object", "null"], "description": "The department's record, null when unavailable"},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "provenance": {"type": "object", "properties": {
            "department": {"type": "string"}, "source_time": {"type": ["string", "null"], "format": "date-time"},
            "audit_id": {"type": "string"}, "request_id": {"type": "string"}, "from_cache": {"type": "boolean"},
            "cache_age_seconds": {"type": "number"}, "stale": {"type": "boolean"},
            "unavailable_reason": {"type": "string"},
        }},
    },
}


PARTY_SCHEMA = {
    "type": "object",
    "required": ["role"],
    "additionalProperties": False,
    "description": "A person (name + id_number) or an organisation (credit_code and/or organization_name; "
                   "a lender may add license_code) in a role of the registration type",
    "properties": {name: {"type": "string", "maxLength": 200} for name in (
        "role", "name", "id_number", "credit_code", "organization_name", "license_code")},
}

CASE_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["context", "registration_type", "parties"],
    "additionalProperties": False,
    "properties": {
        "context": {"$ref": "#/components/schemas/RequestContext"},
        "registration_type": {"type": "string", "description": "first, transfer, inheritance, mortgage, ..."},
        "parties": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"$ref": "#/components/schemas/CaseParty"}},
        "judgment_case_number": {"type": "string"},
        "place_name": {"type": "string"},
    },
}

CASE_RESULT_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["context", "handle"],
    "additionalProperties": False,
    "properties": {
        "context": {"$ref": "#/components/schemas/RequestContext"},
        "handle": {"type": "string", "minLength": 1, "maxLength": 64,
                   "description": "The handle of a case answered INCOMPLETE, or a record id"},
    },
}

RECORD_SCHEMA = {
    "type": "object",
    "required": ["record_id", "handle", "created_at", "case", "parties", "checks", "findings", "status", "by_hand"],
    "properties": {
        "record_id": {"type": "string"}, "handle": {"type": "string"}, "created_at": {"type": "string"},
        "case": {"type": "object"}, "parties": {"type": "array"}, "checks": {"type": "array"},
        "findings": {"type": "array"}, "by_hand": {"type": "array", "items": {"type": "string"}},
        "status": {"type": "string", "enum": ["CLEAR", "NEEDS_ATTENTION", "INCOMPLETE"]},
    },
}

CASE_ANSWER_SCHEMA = {
    "type": "object",
    "required": ["record", "digest", "signature"],
    "properties": {"record": {"$ref": "#/components/schemas/Record"}, "digest": {"type": "string"},
                   "signature": {"type": "string"}},
}

RECORD_FILE_SCHEMA = {
    "type": "object",
    "required": ["record", "digest", "signature", "key_id"],
    "properties": {"record": {"$ref": "#/components/schemas/Record"}, "digest": {"type": "string"},
                   "signature": {"type": "string"}, "key_id": {"type": "string"}},
}


def _field_schema(query_type: type, f: dataclasses.Field) -> dict:
    """One query field: its JSON type (nullable when it may be left out) and its declared limits."""
    p = param_of(f)
    json_type = TYPE_NAMES[field_type(query_type, f.name)]
    schema: dict = {"type": json_type if required(f) else [json_type, "null"]}
    if p.min_length and required(f):
        schema["minLength"] = p.min_length
    for key, value in (("maxLength", p.max_length), ("minimum", p.minimum), ("maximum", p.maximum)):
        if value is not None:
            schema[key] = value
    if not required(f) and f.default is not None:
        schema["default"] = f.default
    schema["description"] = p.description or p.label
    return schema


def _request_schema(query_type: type) -> dict:
    props = {"context": {"$ref": "#/components/schemas/RequestContext"}}
    needed = ["context"]
    for f in dataclasses.fields(query_type):
        props[f.name] = _field_schema(query_type, f)
        if required(f):
            needed.append(f.name)
    return {"type": "object", "required": needed, "additionalProperties": False, "properties": props}


def _problem(description: str) -> dict:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _json(description: str, schema: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


# Every authenticated operation can answer these.
_COMMON = {
    "401": _problem("No or no valid bearer token"),
    "429": _problem("Too many refused requests from this address, or an operator over its limit"),
    "503": _problem("Audit trail unavailable: nothing is answered without its audit record"),
}
_WITH_BODY = {
    "400": _problem("Invalid request: invalid_params names each field"),
    "413": _problem("Request body larger than 64 KiB"),
}


def _post(summary: str, operation_id: str, schema: str, ok: dict, **responses: dict) -> dict:
    return {"post": {
        "summary": summary, "operationId": operation_id,
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{schema}"}}}},
        "responses": {"200": ok, **_WITH_BODY, **_COMMON, **responses},
    }}


def document() -> dict:
    paths: dict = {
        "/healthz": {"get": {"summary": "Liveness", "operationId": "healthz", "security": [],
                              "responses": {"200": {"description": "alive"}}}},
    }
    schemas = {"RequestContext": CONTEXT_SCHEMA, "Problem": PROBLEM_SCHEMA, "Answer": ANSWER_SCHEMA,
               "CaseParty": PARTY_SCHEMA, "CaseRequest": CASE_REQUEST_SCHEMA,
               "CaseResultRequest": CASE_RESULT_REQUEST_SCHEMA, "Record": RECORD_SCHEMA,
               "CaseAnswer": CASE_ANSWER_SCHEMA, "RecordFile": RECORD_FILE_SCHEMA}
    for op in registry().operations.values():
        name = op.query_type.__name__
        schemas[name] = _request_schema(op.query_type)
        paths[op.http_path] = _post(
            f"{op.summary} ({op.label})", op.name, name,
            _json("Answer (a verdict, never an error, for NOT_FOUND or MISMATCH)", "Answer"),
            **{"403": _problem("Operation or department not permitted for this caller"),
               "429": _problem("The operator's per-minute limit is reached")})
        # The scope a caller's `operations` list must name (querynode/security/authorization.py).
        paths[op.http_path]["post"]["security"] = [{"bearer": [op.scope]}]
    paths["/api/v1/cases/check"] = _post(
        "Check a whole registration case; answers the signed verification record", "CheckCase", "CaseRequest",
        _json("The record (status CLEAR, NEEDS_ATTENTION or INCOMPLETE, with a handle while the court is pending)",
              "CaseAnswer"))
    paths["/api/v1/cases/result"] = _post(
        "The latest record of a case, for the caller system that ran it", "GetCaseResult", "CaseResultRequest",
        _json("The record", "CaseAnswer"),
        **{"404": _problem("No case result for this handle (or not this caller's)")})
    paths["/api/v1/records/{record_id}"] = {"get": {
        "summary": "A verification record as filed, for the caller system that ran the case",
        "operationId": "GetRecord",
        "parameters": [{"name": "record_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json("Record, digest, signature and key id", "RecordFile"),
                      "404": _problem("No verification record with this id (or not this caller's)"), **_COMMON},
    }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "querynode JSON API", "version": "1.0.0",
                 "description": "Precise cross-department query node for real-estate registration."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "qn_ token from `querynode token issue`"}}},
        "security": [{"bearer": []}],
    }
