"""Label selectors: metav1.LabelSelector and the text form match alike and print upstream's canonical text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeapi import labels
from kubeapi.labels import Requirement, Selector, from_label_selector, label_selector_errors, selector_text

SET_BASED = {
    "matchLabels": {"app": "web"},
    "matchExpressions": [
        {"key": "track", "operator": "NotIn", "values": ["canary", "beta"]},
        {"key": "env", "operator": "In", "values": ["prod", "dev"]},
        {"key": "zone", "operator": "Exists"},
        {"key": "broken", "operator": "DoesNotExist"},
    ],
}


def test_canonical_text_sorts_requirements_by_key_and_values() -> None:
    # what labels.Selector.String() prints for this LabelSelector
    assert selector_text(SET_BASED) == "app=web,!broken,env in (dev,prod),track notin (beta,canary),zone"
    assert (
        str(labels.parse("zone,track notin (canary,beta),app=web"))
        == "app=web,track notin (beta,canary),zone"
    )
    assert str(labels.parse("b==1,a!=2,c>3,d<4,!e")) == "a!=2,b==1,c>3,d<4,!e"
    assert selector_text(None) == "" and selector_text({}) == ""


@pytest.mark.parametrize(
    ("expression", "found", "matches"),
    [
        ({"key": "tier", "operator": "In", "values": ["db", "cache"]}, {"tier": "db"}, True),
        ({"key": "tier", "operator": "In", "values": ["db"]}, {}, False),
        ({"key": "tier", "operator": "NotIn", "values": ["db"]}, {}, True),
        ({"key": "tier", "operator": "NotIn", "values": ["db"]}, {"tier": "db"}, False),
        ({"key": "tier", "operator": "Exists"}, {"tier": ""}, True),
        ({"key": "tier", "operator": "DoesNotExist"}, {"tier": ""}, False),
        ({"key": "tier", "operator": "Bogus"}, {"tier": ""}, False),
    ],
)
def test_label_selector_expressions(
    expression: dict[str, object], found: dict[str, str], matches: bool
) -> None:
    assert from_label_selector({"matchExpressions": [expression]}).matches(found) is matches


def test_unknown_operators_print_nothing_and_are_named_by_validation() -> None:
    raw = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "x", "operator": "Bogus"}, "junk"]}
    assert selector_text(raw) == "app=web"
    bad = {
        "matchExpressions": [
            {"key": "a", "operator": "Bogus"},
            {"key": "b", "operator": "In"},
            {"key": "c", "operator": "Exists", "values": ["x"]},
            {"key": "d", "operator": "NotIn", "values": ["x"]},
        ]
    }
    assert label_selector_errors(bad) == [
        ("matchExpressions[0].operator", "unknown operator 'Bogus'"),
        ("matchExpressions[1].values", "required"),
        ("matchExpressions[2].values", "forbidden"),
    ]
    assert label_selector_errors(SET_BASED) == []


def test_parse_errors_carry_the_servers_message() -> None:
    with pytest.raises(
        labels.SelectorError, match=r"unable to parse requirement: .*\(in label selector 'a in b'\)"
    ):
        labels.parse("a in b")


_KEY = st.sampled_from(["app", "tier", "example.com/owner", "v", "zone"])
_VALUE = st.sampled_from(["web", "db", "1", "7", "a.b", ""])
_REQUIREMENT = st.one_of(
    st.builds(Requirement, _KEY, st.sampled_from(["=", "==", "!="]), st.tuples(_VALUE)),
    st.builds(Requirement, _KEY, st.sampled_from(["in", "notin"]), st.lists(_VALUE, min_size=1).map(tuple)),
    st.builds(Requirement, _KEY, st.sampled_from(["exists", "!"])),
    st.builds(Requirement, _KEY, st.sampled_from([">", "<"]), st.tuples(st.sampled_from(["1", "5", "12"]))),
)
_LABELS = st.dictionaries(_KEY, _VALUE, max_size=4)


@given(st.lists(_REQUIREMENT, max_size=5), _LABELS)
def test_the_text_form_round_trips(reqs: list[Requirement], found: dict[str, str]) -> None:
    built = labels.selector(reqs)
    parsed = labels.parse(str(built))
    assert str(parsed) == str(built)
    assert parsed.matches(found) is built.matches(found)
    assert built.matches(found) is all(r.matches(found) for r in reqs)


def test_empty_selector_matches_everything() -> None:
    assert Selector().empty and Selector().matches({"a": "b"}) and labels.parse("").empty
