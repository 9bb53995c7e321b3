"""The fault vocabulary shared by the mock departments (mocks/faults.py applies it to their
replies) and the node's drill switches (querynode/faults.py applies it in front of each
connector): one `FaultPlan` per department. It imports nothing from the project, so a mock
that uses it stays independent of connectors/ and of the node's code.

    latency              added delay: "200" (ms, fixed), "uniform:100:500", "exponential:200"
                         (mean ms) or "normal:200:50" (mean, sd ms; never below 0)
    error_rate           share of requests answered 503
    hang_rate            share of requests never answered (until the plan changes)
    reset_rate           share of requests whose connection is reset (TCP RST), no reply
    throttle_rate        share of requests answered 429 with Retry-After: retry_after_seconds
    malformed_rate       share of requests answered 200 with a body that is not the protocol
    fail_next            the next N requests are answered 503, then normal service
    maintenance_seconds  every request is answered 503 with Retry-After for this long from now
"""
from __future__ import annotations

import math
import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


def parse_latency(spec: str) -> tuple[str, tuple[float, ...]]:
    """'200' | 'uniform:LOW:HIGH' | 'exponential:MEAN' | 'normal:MEAN:SD' (milliseconds)."""
    kind, *args = spec.split(":")
    if not args:
        kind, args = "fixed", [kind]
    arity = {"fixed": 1, "uniform": 2, "exponential": 1, "normal": 2}
    if kind not in arity or len(args) != arity[kind]:
        raise ValueError("latency is 'MS', 'uniform:LOW:HIGH', 'exponential:MEAN' or 'normal:MEAN:SD'")
    try:
        values = tuple(float(a) for a in args)
    except ValueError:
        raise ValueError("latency values are milliseconds") from None
    if any(v < 0 or not math.isfinite(v) for v in values) or (kind == "uniform" and values[0] > values[1]):
        raise ValueError("latency milliseconds must be finite, >= 0, and LOW <= HIGH")
    return kind, values


class FaultPlan(BaseModel):
    """What goes wrong, and how often. All zero: a healthy department."""

    model_config = ConfigDict(extra="forbid")

    latency: str | None = None
    error_rate: float = Field(default=0, ge=0, le=1)
    hang_rate: float = Field(default=0, ge=0, le=1)
    reset_rate: float = Field(default=0, ge=0, le=1)
    throttle_rate: float = Field(default=0, ge=0, le=1)
    retry_after_seconds: float = Field(default=1, ge=0, le=3600)
    malformed_rate: float = Field(default=0, ge=0, le=1)
    fail_next: int = Field(default=0, ge=0)
    maintenance_seconds: float = Field(default=0, ge=0, le=86400)

    @field_validator("latency")
    @classmethod
    def _latency_ok(cls, value: str | None) -> str | None:
        if value is not None:
            parse_latency(value)
        return value

    def delay_seconds(self, rng: random.Random) -> float:
        if self.latency is None:
            return 0.0
        kind, v = parse_latency(self.latency)
        ms = {
            "fixed": lambda: v[0],
            "uniform": lambda: rng.uniform(v[0], v[1]),
            "exponential": lambda: rng.expovariate(1 / v[0]) if v[0] else 0.0,
            "normal": lambda: max(0.0, rng.gauss(v[0], v[1])),
        }[kind]()
        return ms / 1000


def parse_cli_fault(text: str) -> tuple[str, dict[str, Any]]:
    """'identity=error_rate:0.5' -> ('identity', {'error_rate': '0.5'}); latency keeps its
    own colons: 'identity=latency:uniform:100:500'."""
    department, sep, rest = text.partition("=")
    field, sep2, value = rest.partition(":")
    if not sep or not sep2 or not department or not field:
        raise ValueError(f"--fault wants DEPARTMENT=FIELD:VALUE, got {text!r}")
    if field not in FaultPlan.model_fields:
        raise ValueError(f"unknown fault {field!r}; one of {', '.join(FaultPlan.model_fields)}")
    return department, {field: value}
