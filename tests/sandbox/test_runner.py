"""The runner's codec and framing: exact round trips, deterministic bytes, and a child channel
that parses the same however its bytes are split, and refuses what it cannot parse."""

from __future__ import annotations

import json
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import runner
from sandbox.runner import FrameBuffer, decode, encode, pack_frame, parse_frame

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(1 << 200), max_value=1 << 200),
    st.floats(allow_nan=False), st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.lists(inner, max_size=6).map(tuple),
        st.dictionaries(st.one_of(st.integers(), st.text(max_size=5)), inner, max_size=5),
        st.frozensets(st.integers(), max_size=5), st.sets(st.text(max_size=4), max_size=5),
    ),
    max_leaves=30,
)


def _wire(value: object) -> bytes:
    return json.dumps(encode(value), separators=(",", ":")).encode()


def _same(a: object, b: object) -> bool:
    """Equal with identical types all the way down (1 vs 1.0 vs True differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)  # type: ignore[attr-defined,index]
    if isinstance(a, float):
        return math.copysign(1.0, a) == math.copysign(1.0, b) and a == b  # type: ignore[arg-type]
    return a == b


@settings(max_examples=300, deadline=None)
@given(values)
def test_round_trip_keeps_values_and_types(value):
    assert _same(decode(json.loads(_wire(value))), value)
    assert _wire(value) == _wire(value)  # deterministic: equal values, equal bytes


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                          st.integers(min_value=-(1 << 52), max_value=1 << 52)), max_size=30),
       st.booleans())
def test_long_float_sequences_are_packed_exactly(xs, as_tuple):
    xs = xs + [-0.0, 1.7976931348623157e308] * (runner._PACK_MIN // 2)  # long; sums overflow
    value = tuple(xs) if as_tuple else xs
    enc = encode(value)
    packed = enc["$t"] if as_tuple else enc
    assert isinstance(packed, dict) and "$df" in packed
    assert _same(decode(json.loads(_wire(value))), value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1 << 60, True, "x"])
def test_sequences_that_doubles_cannot_hold_stay_tagged_json(bad):
    value = [0.5] * runner._PACK_MIN + [bad]
    assert "$df" not in _wire(value).decode()
    back = decode(json.loads(_wire(value)))
    assert type(back[-1]) is type(bad)
    assert (math.isnan(back[-1]) if bad != bad else back[-1] == bad)


def test_frames_carry_blobs_and_reject_inconsistent_sizes():
    parts = pack_frame({"op": "run", "id": 3}, [b"abc", b"", b"\x00\xff"])
    data = b"".join(parts)
    meta_len, blob_len = runner._HEADER.unpack_from(data)
    msg = parse_frame(data[runner._HEADER.size:], meta_len)
    assert msg == {"op": "run", "id": 3, "_blobs": [b"abc", b"", b"\x00\xff"]}
    assert blob_len == 5
    body = data[runner._HEADER.size:]
    with pytest.raises(ValueError):
        parse_frame(body + b"x", meta_len)  # bytes nobody announced
    with pytest.raises(ValueError):
        parse_frame(json.dumps({"_blobs": [10]}).encode(), len(json.dumps({"_blobs": [10]})))


def _child_stream() -> tuple[bytes, list[dict[str, object]]]:
    frames, expect = [], []
    for i in range(5):
        payload = _wire([i, "x" * (i * 7)])
        frames.append(runner._R_HEADER.pack(b"R", runner._R_FIELDS.size + len(payload), i, 0.25 * i, i % 2) + payload)
        expect.append({"t": "R", "i": i, "cpu": 0.25 * i, "fl": i % 2 == 1, "payload": payload})
        body = json.dumps({"t": "X", "phase": "call", "i": i}).encode()
        frames.append(runner._CHILD_HEADER.pack(b"J", len(body)) + body)
        expect.append({"t": "X", "phase": "call", "i": i})
    return b"".join(frames), expect


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_child_channel_parses_the_same_however_it_is_split(cuts):
    data, expect = _child_stream()
    points = sorted({c % (len(data) + 1) for c in cuts})
    fb = FrameBuffer(limit=1 << 20)
    got = []
    prev = 0
    for p in [*points, len(data)]:
        got += fb.feed(data[prev:p])
        prev = p
    assert fb.error is None
    assert got == expect


@pytest.mark.parametrize("data", [
    b"Z" + struct.pack(">I", 2) + b"{}",  # unknown kind
    b"J" + struct.pack(">I", 3) + b"{x}",  # malformed JSON
    b"J" + struct.pack(">I", 9) + b'{"t":"R"}',  # an output must come as an R frame
    b"J" + struct.pack(">I", 2) + b"[]",  # not an object
    b"R" + struct.pack(">I", 4) + b"\x00\x00\x00\x01",  # too short for its fields
    b"R" + struct.pack(">I", 1 << 30),  # larger than the limit
    b"J" + struct.pack(">I", 100_001) + b"[" * 100_000 + b"]",  # deeper than any parser
])
def test_child_channel_refuses_malformed_frames(data):
    fb = FrameBuffer(limit=1 << 20)
    assert fb.feed(data) == []
    assert fb.error


def test_digest_of_huge_outputs_is_exact_and_independent_of_sharing():
    s = "ab" * 3
    shared = [(s, s)] * 50_000
    fresh = [("ab" * 3, "".join(["ab", "ab", "ab"])) for _ in range(50_000)]
    assert shared is not fresh and shared[0][0] is shared[1][0]
    assert runner._digest(shared) == runner._digest(fresh)  # equal values, different object sharing
    assert runner._digest([1] * 10) != runner._digest([1.0] * 10)  # exact types, like the rest of the codec
    assert runner._digest([(s, s)] * 49_999 + [(s, "x")]) != runner._digest(shared)
    cyclic: list[object] = []
    cyclic.append(cyclic)
    assert "$u" in runner._digest(cyclic)


def test_outputs_over_the_budget_fail_fast_to_a_digest():
    big = [(i, str(i)) for i in range(runner.ENCODE_BUDGET + 1)]
    with pytest.raises(runner.EncodeError):
        encode(big)
    assert encode([0.5] * (runner.ENCODE_BUDGET + 1))  # flat sequences are cheap: still shipped
