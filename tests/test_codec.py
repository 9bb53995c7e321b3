"""The one codec (querynode/domain/codec.py) every stored or sent result goes through: a value
comes back as it went in, and data of the wrong shape is refused, never guessed."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from querynode.core.operations import registry
from querynode.domain.codec import from_data, to_data

RESULT_TYPES = sorted({op.result_type for op in registry().operations.values()}, key=lambda t: t.__name__)


def _text(data) -> str:
    return json.dumps(data, sort_keys=True)  # NaN as NaN, lone surrogates escaped: comparable


@pytest.mark.parametrize("result_type", RESULT_TYPES, ids=lambda t: t.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_result_type_comes_back_as_it_went_in(result_type, data):
    value = data.draw(st.from_type(result_type))
    stored = to_data(value)
    assert _text(to_data(from_data(result_type, stored))) == _text(stored)


@pytest.mark.parametrize("tp, data", [
    (int, True), (int, "1"), (str, 1), (bool, 0), (float, True), (float, "1.0"), (datetime, 5),
    (tuple[str, ...], "ab"), (tuple[int, ...], ["1"]), (int | None, "x"),
])
def test_data_of_the_wrong_shape_is_refused(tp, data):
    with pytest.raises((ValueError, TypeError)):
        from_data(tp, data)


def test_optional_and_numbers():
    assert from_data(int | None, None) is None
    assert from_data(float, 2) == 2.0 and type(from_data(float, 2)) is float
    assert from_data(tuple[int, ...], [1, 2]) == (1, 2)
