"""A slice's endpoints held packed in one string: every endpoint comes back as it was given, whatever its
fields hold, and slices compare and hash by their endpoints as before."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from petdns.schema.model import SERVICE_NAME_LABEL, EndpointSlice, ModelError, Port, from_raw
from petdns.schema.packing import Endpoint, pack_endpoints

PORTS = (Port("http", 80, "tcp"),)
text = st.text(alphabet=st.sampled_from("ab-1.:,\x1e\x1f é"), max_size=6)
endpoints = st.lists(
    st.builds(Endpoint, st.lists(text, max_size=3).map(tuple), st.booleans(), text, text), max_size=5
).map(tuple)


@given(endpoints)
def test_any_endpoints_come_back_as_given(given_endpoints: tuple[Endpoint, ...]) -> None:
    sl = EndpointSlice("ns", "web-abc", "web", "IPv4", given_endpoints, PORTS)
    assert sl.endpoints == given_endpoints
    assert sl == EndpointSlice("ns", "web-abc", "web", "IPv4", given_endpoints, PORTS)
    assert hash(sl) == hash(EndpointSlice("ns", "web-abc", "web", "IPv4", given_endpoints, PORTS))


def test_common_endpoints_are_one_string_and_odd_ones_stay_tuples() -> None:
    pets = tuple(Endpoint((f"10.0.0.{i}",), i % 2 == 0, f"web-{i}", "") for i in range(3))
    assert isinstance(pack_endpoints(pets), str)
    assert EndpointSlice("ns", "s", "web", "IPv4", pets, PORTS).endpoints == pets
    dual = (Endpoint(("10.0.0.1", "10.0.0.2"), True, "", "web-0"),)
    assert EndpointSlice("ns", "s", "web", "IPv4", dual, PORTS).endpoints == dual
    for odd in (
        Endpoint(("10.0.0.1",), True, "", "pod\x1ename"),  # separators in a field
        Endpoint(("10.0.0.1",), True, "", "pod\x1fname"),
        Endpoint(("10.0.0.1,10.0.0.2",), True, "", ""),  # a comma in an address
        Endpoint(("",), True, "", ""),  # an empty address
    ):
        assert pack_endpoints((odd,)) == (odd,)
        assert EndpointSlice("ns", "s", "web", "IPv4", (odd,), PORTS).endpoints == (odd,)
    assert pack_endpoints(()) == "" and EndpointSlice("ns", "s", "web", "IPv4", (), PORTS).endpoints == ()
    assert EndpointSlice("ns", "s", "web", "IPv4", pets, PORTS) != EndpointSlice(
        "ns", "s", "web", "IPv4", dual, PORTS
    )


def test_a_slice_read_from_the_api_keeps_every_endpoint_field() -> None:
    raw = {
        "kind": "EndpointSlice",
        "metadata": {
            "name": "web-abc",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.1.0.5"], "conditions": {"ready": True}, "hostname": "web-0"},
            {"addresses": ["10.1.0.6"], "conditions": {"ready": False}, "hostname": "web-1"},
            {"addresses": ["10.1.0.7"], "targetRef": {"kind": "Pod", "name": "web-x7"}},
        ],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }
    sl = from_raw(raw)
    assert isinstance(sl, EndpointSlice) and isinstance(sl.packed, str)
    assert sl.endpoints == (
        Endpoint(("10.1.0.5",), True, "web-0", ""),
        Endpoint(("10.1.0.6",), False, "web-1", ""),
        Endpoint(("10.1.0.7",), True, "", "web-x7"),
    )


octet = st.integers(0, 255).map(str)
ipv4 = st.tuples(octet, octet, octet, octet).map(".".join)
raw_endpoint = st.fixed_dictionaries(
    {"addresses": st.lists(ipv4 | st.sampled_from(["10.0.0.01", "::1", "10.0.0.1\n"]), max_size=2)},
    optional={
        "conditions": st.fixed_dictionaries({}, optional={"ready": st.booleans()}),
        "hostname": st.sampled_from(["web-0", "web-1", "", "a" * 63]),
        "targetRef": st.fixed_dictionaries(
            {"kind": st.just("Pod"), "name": st.sampled_from(["web-x7", "p"])}
        ),
    },
)


def _raw_slice(endpoints: list[Any]) -> dict[str, Any]:
    return {
        "kind": "EndpointSlice",
        "metadata": {"name": "web-abc", "namespace": "default", "labels": {SERVICE_NAME_LABEL: "web"}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }


@given(st.lists(raw_endpoint, max_size=6))
def test_a_slice_packed_from_raw_values_is_the_slice_read_field_by_field(eps: list[dict[str, Any]]) -> None:
    # plain dicts take the packing shortcut; the same endpoints as read-only mappings take the general
    # reading, endpoint by endpoint: both give the same slice, or the same error
    try:
        general = from_raw(_raw_slice([MappingProxyType(ep) for ep in eps]))
    except ModelError as err:
        with pytest.raises(ModelError) as caught:
            from_raw(_raw_slice(eps))
        assert (caught.value.field, caught.value.message) == (err.field, err.message)
        return
    fast = from_raw(_raw_slice(eps))
    assert isinstance(fast, EndpointSlice) and isinstance(general, EndpointSlice)
    assert fast == general and fast.packed == general.packed and fast.endpoints == general.endpoints
    ready = [a for ep in general.endpoints if ep.ready for a in ep.addresses]
    assert list(fast.ready_addresses()) == ready


@given(endpoints)
def test_ready_addresses_are_those_of_the_ready_endpoints(given_endpoints: tuple[Endpoint, ...]) -> None:
    sl = EndpointSlice("ns", "web-abc", "web", "IPv4", given_endpoints, PORTS)
    assert list(sl.ready_addresses()) == [a for ep in given_endpoints if ep.ready for a in ep.addresses]


def test_a_slice_bad_in_its_endpoints_and_its_ports_names_the_endpoint_first() -> None:
    raw = _raw_slice([{"addresses": ["10.0.0.1"], "hostname": "web-0"}, {"addresses": ["x"]}])
    raw["ports"] = [{"name": "http", "port": "eighty"}]
    with pytest.raises(ModelError) as caught:
        from_raw(raw)
    assert caught.value.field.startswith("endpoints[1]"), caught.value.field
