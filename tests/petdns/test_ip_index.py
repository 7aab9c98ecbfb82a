"""The catalog's IP index (`IpIndex`) holds addresses by their /24 and last byte, and answers exactly as a
dict keyed by the address text would, whatever text it is given (non-canonical bytes, IPv6, junk)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from petdns.schema.catalog import IpIndex

texts = st.one_of(
    st.text(alphabet="0123456789.:af٣", max_size=12),
    st.builds(
        lambda a, b: f"10.0.{a}.{b}",
        st.integers(0, 300),
        st.sampled_from(["0", "1", "01", "255", "256", "٣"]),
    ),
)
ops = st.lists(st.tuples(st.sampled_from(["add", "discard"]), texts, st.integers(0, 3)), max_size=60)
KEYS = [("ns", f"svc-{n}") for n in range(4)]


def _keys(refs: object) -> set[object]:
    if refs is None:
        return set()
    assert isinstance(refs, tuple)
    return {refs} if isinstance(refs[0], str) else set(refs)


@given(ops, st.lists(texts, max_size=20))
def test_it_answers_as_a_dict_keyed_by_the_text(steps: list[tuple[str, str, int]], probes: list[str]) -> None:
    index, model = IpIndex(), dict[str, set[tuple[str, str]]]()
    for op, ip, n in steps:
        if op == "add" and KEYS[n] not in model.get(ip, set()):
            index.add(ip, KEYS[n])
            model.setdefault(ip, set()).add(KEYS[n])
        elif op == "discard":
            index.discard(ip, KEYS[n])
            model.get(ip, set()).discard(KEYS[n])
            if not model.get(ip, True):
                del model[ip]
    for ip in [*model, *probes, *(ip for _, ip, _ in steps)]:
        assert _keys(index.get(ip)) == model.get(ip, set()), ip
    assert len(index) == len(model)
    assert all(any(slots) for slots in index.groups.values())  # an emptied /24 goes


def test_canonical_ipv4_is_held_by_its_last_byte_and_the_rest_by_text() -> None:
    index = IpIndex()
    for ip, key in (
        ("10.0.1.5", KEYS[0]),
        ("10.0.1.05", KEYS[1]),
        ("fd00::1", KEYS[2]),
        ("::ffff:10.0.1.7", KEYS[3]),
    ):
        index.add(ip, key)
    index.add("10.0.1.5", KEYS[1])
    assert index.groups.keys() == {"10.0.1", "::ffff:10.0.1"}
    assert {n: refs for n, refs in enumerate(index.groups["10.0.1"]) if refs} == {5: (KEYS[0], KEYS[1])}
    assert {n: refs for n, refs in enumerate(index.groups["::ffff:10.0.1"]) if refs} == {7: KEYS[3]}
    assert index.others == {"10.0.1.05": KEYS[1], "fd00::1": KEYS[2]}  # not canonical: by its own text
    assert index.get("10.0.1.\u0665") is None and index.get("10.0.1.6") is None
    index.discard("10.0.1.5", KEYS[0])
    assert index.get("10.0.1.5") == KEYS[1]
    index.discard("10.0.1.5", KEYS[1])
    index.discard("::ffff:10.0.1.7", KEYS[3])
    assert index.groups == {}
