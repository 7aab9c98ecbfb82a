"""A service's rendered names kept compact (`petdns.answer.owned`): they come apart exactly as they went in,
under the service's base names or not."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from petdns.answer.owned import WHOLE, join_owned, split_owned
from petdns.dns.wire import wire_name

BASES = (wire_name("web.default.svc.cluster.local"), wire_name("web.default.svc.example.org"))
labels = st.lists(st.text(alphabet="ab-_0", min_size=1, max_size=5), max_size=3)


@given(st.lists(st.tuples(labels, st.sampled_from(["", *(b.decode("latin-1") for b in BASES)]))))
def test_names_come_apart_as_they_went_in(names: list[tuple[list[str], str]]) -> None:
    wires = []
    for front, base in names:
        wire = b"".join(bytes((len(x),)) + x.encode() for x in front)
        wires.append(wire + (base.encode("latin-1") if base else b"\x00"))
    assert split_owned(join_owned(wires, BASES), BASES) == wires


def test_a_pet_costs_its_own_label_and_a_stranger_is_kept_whole() -> None:
    pet = wire_name("web-0.web.default.svc.cluster.local")
    joined = join_owned([pet, BASES[1]], BASES)
    assert joined == b"\x00\x05web-0\x00" + b"\x01\x00"
    other = wire_name("xweb.default.svc.cluster.local")  # ends with a base's bytes, not at a label
    lookalike = b"\x05a\x03web" + BASES[0][4:]  # a label whose last bytes look like the base's start
    for name in (other, lookalike):
        assert join_owned([name], BASES)[0] == WHOLE or split_owned(join_owned([name], BASES), BASES) == [
            name
        ]
        assert split_owned(join_owned([name], BASES), BASES) == [name]
