"""The OpenAPI 3.1 description of the JSON API, built from the route table."""
from __future__ import annotations

import dataclasses

from querynode.api.http.json_api import ROUTES

_STRING_LIMITS = {
    "id_number": {"type": "string", "minLength": 15, "maxLength": 18, "description": "Resident ID number (GB 11643)"},
    "spouse_id_number": {"type": ["string", "null"], "maxLength": 18},
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "spouse_name": {"type": ["string", "null"], "maxLength": 30},
    "credit_code": {"type": ["string", "null"], "maxLength": 18},
    "license_code": {"type": ["string", "null"], "maxLength": 15},
    "institution_name": {"type": ["string", "null"], "maxLength": 100},
    "case_number": {"type": ["string", "null"], "maxLength": 40},
    "party_name": {"type": ["string", "null"], "maxLength": 100},
    "division_code": {"type": ["string", "null"], "maxLength": 12},
    "prefix": {"type": ["boolean", "null"]},
    "limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 100},
}

CONTEXT_SCHEMA = {
    "type": "object",
    "required": ["case_number", "operator_id", "purpose"],
    "additionalProperties": False,
    "properties": {
        "case_number": {"type": "string", "minLength": 1, "maxLength": 64, "description": "受理编号"},
        "operator_id": {"type": "string", "minLength": 1, "maxLength": 64, "description": "Clerk id"},
        "purpose": {"type": "string", "minLength": 1, "maxLength": 200, "description": "Purpose / legal basis"},
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


def _request_schema(query_type: type) -> dict:
    fields = dataclasses.fields(query_type)
    props = {"context": {"$ref": "#/components/schemas/RequestContext"}}
    required = ["context"]
    for f in fields:
        props[f.name] = _STRING_LIMITS.get(f.name, {"type": "string"})
        if f.default is dataclasses.MISSING:
            required.append(f.name)
    return {"type": "object", "required": required, "additionalProperties": False, "properties": props}


def _problem(description: str) -> dict:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _json(description: str, schema: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


# Every authenticated operation can answer these.
_COMMON = {
    "401": _problem("No or no valid bearer token"),
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
    for route in ROUTES:
        name = route.query_type.__name__
        schemas[name] = _request_schema(route.query_type)
        paths[route.path] = _post(
            route.summary, route.operation, name,
            _json("Answer (a verdict, never an error, for NOT_FOUND or MISMATCH)", "Answer"),
            **{"403": _problem("Operation or department not permitted for this caller"),
               "429": _problem("The operator's per-minute limit is reached")})
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
