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
    "prefix": {"type": "boolean"},
    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
}

CONTEXT_SCHEMA = {
    "type": "object",
    "required": ["case_number", "operator_id", "purpose"],
    "additionalProperties": False,
    "properties": {
        "case_number": {"type": "string", "minLength": 1, "maxLength": 64, "description": "受理编号"},
        "operator_id": {"type": "string", "minLength": 1, "maxLength": 64, "description": "Clerk id"},
        "purpose": {"type": "string", "minLength": 1, "maxLength": 200, "description": "Purpose / legal basis"},
        "request_id": {"type": "string", "maxLength": 64},
        "fresh": {"type": "boolean", "description": "Bypass the cache"},
    },
}

PROBLEM_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
        "invalid_params": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "reason": {"type": "string"}}}},
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


def _request_schema(query_type: type) -> dict:
    fields = dataclasses.fields(query_type)
    props = {"context": {"$ref": "#/components/schemas/RequestContext"}}
    required = ["context"]
    for f in fields:
        props[f.name] = _STRING_LIMITS.get(f.name, {"type": "string"})
        if f.default is dataclasses.MISSING:
            required.append(f.name)
    return {"type": "object", "required": required, "additionalProperties": False, "properties": props}


def document() -> dict:
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    paths: dict = {
        "/healthz": {"get": {"summary": "Liveness", "operationId": "healthz",
                              "responses": {"200": {"description": "alive"}}}},
    }
    schemas = {"RequestContext": CONTEXT_SCHEMA, "Problem": PROBLEM_SCHEMA, "Answer": ANSWER_SCHEMA}
    for route in ROUTES:
        name = route.query_type.__name__
        schemas[name] = _request_schema(route.query_type)
        paths[route.path] = {"post": {
            "summary": route.summary, "operationId": route.operation,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{name}"}}}},
            "responses": {
                "200": {"description": "Answer (a verdict, never an error, for NOT_FOUND or MISMATCH)",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}}},
                "400": {"description": "Invalid request", "content": problem},
                "403": {"description": "Not permitted", "content": problem},
                "503": {"description": "Audit trail unavailable", "content": problem},
            },
        }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "querynode JSON API", "version": "1.0.0",
                 "description": "Precise cross-department query node for real-estate registration."},
        "paths": paths,
        "components": {"schemas": schemas},
    }
