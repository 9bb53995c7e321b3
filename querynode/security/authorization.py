"""Stage 2: may this caller make this query?

The policy maps caller systems to the operations they may use. An empty policy (the
embedded demo default) allows every authenticated caller everything.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from querynode.domain.errors import PermissionDenied
from querynode.domain.model import RequestContext


class Authorizer:
    def __init__(self, policy: Mapping[str, Sequence[str]] | None = None) -> None:
        self.policy = {caller: frozenset(ops) for caller, ops in (policy or {}).items()}

    def check(self, ctx: RequestContext, operation: str) -> None:
        if not self.policy:
            return
        allowed = self.policy.get(ctx.caller)
        if allowed is None:
            raise PermissionDenied(f"caller {ctx.caller!r} is not registered with this node")
        if operation not in allowed and "*" not in allowed:
            raise PermissionDenied(f"caller {ctx.caller!r} may not use {operation}")
