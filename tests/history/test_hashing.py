"""The canonical JSON behind every revision hash: the bytes must never change."""

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.history.hashing import canonical_json


def reference(value: Any) -> bytes:
    """The form the hash chain was specified with (RFC 8785 for strings, ints and objects)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def test_every_code_point_is_written_as_the_reference_writes_it() -> None:
    code_points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(code_points), 256):
        text = "".join(code_points[start : start + 256])
        value = {text: [text, {"k": text}], "plain": text[:3]}
        assert canonical_json(value) == reference(value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_nested_values_and_key_order_match_the_reference(value: Any) -> None:
    assert canonical_json(value) == reference(value)
