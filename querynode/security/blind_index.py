"""Keyed hashes of personal data: cache keys and audit lookups without the data itself."""
from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from querynode.domain.codec import to_data


class BlindIndex:
    """HMAC-SHA256 (default) or HMAC-SM3 over length-prefixed parts."""

    def __init__(self, key: bytes, algorithm: str = "sha256") -> None:
        if len(key) < 16:
            raise ValueError("blind index key must have at least 16 bytes")
        self._key = key
        self._algorithm = algorithm

    def digest(self, *parts: str) -> str:
        mac = hmac.new(self._key, digestmod=self._algorithm)
        for part in parts:
            data = part.encode()
            mac.update(len(data).to_bytes(4, "big"))
            mac.update(data)
        return mac.hexdigest()


# Query fields that identify a person or an organisation; each gets its own blind index in
# the audit record so `querynode audit search --id-number N` finds every lookup about N.
IDENTIFIER_FIELDS = ("id_number", "spouse_id_number", "credit_code", "license_code")


def identifier_digest(index: BlindIndex, value: str) -> str:
    """The blind index of one identifier (normalised: trimmed, upper case)."""
    return index.digest("identifier", value.strip().upper())


def query_digest(index: BlindIndex, operation: str, query: object) -> str:
    """The digest of a whole (flat) query: the cache key's and the audit record's first part."""
    return index.digest(operation, json.dumps(to_data(query), sort_keys=True, ensure_ascii=False))


@dataclass(frozen=True)
class Subject:
    """A lookup's keyed digests, computed once per call: the whole query's (the cache key's
    and the audit record's first part) and each identifier's, by query field."""

    query: str
    identifiers: tuple[tuple[str, str], ...]  # (field, digest) in IDENTIFIER_FIELDS order

    @property
    def index(self) -> str:
        """What the audit record stores about the subject: the query's digest, then one per
        identifier, space separated. No value is kept in clear."""
        return " ".join([self.query, *(digest for _, digest in self.identifiers)])

    def of(self, fields: tuple[str, ...]) -> list[str]:
        """The digests of the identifiers in `fields` the query has."""
        return [digest for name, digest in self.identifiers if name in fields]


def subject_of(index: BlindIndex, operation: str, query: object) -> Subject:
    return Subject(query_digest(index, operation, query), tuple(
        (name, identifier_digest(index, value)) for name in IDENTIFIER_FIELDS
        if isinstance(value := getattr(query, name, None), str) and value))


def subject_index(index: BlindIndex, operation: str, query: object) -> str:
    """The audit record's subject of one query (Subject.index)."""
    return subject_of(index, operation, query).index
