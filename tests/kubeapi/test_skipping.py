"""Objects a reflector's transform cannot read are skipped and named, not fatal to the watch."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest

from kubeapi.skipping import skipping

log = logging.getLogger("kubeapi.test")


def _replicas(raw: Mapping[str, Any]) -> int:
    return int(raw["spec"]["replicas"])


BAD = {"metadata": {"namespace": "ns", "name": "web"}, "spec": {"replicas": "many"}}


def test_unreadable_objects_are_skipped_and_named(caplog: pytest.LogCaptureFixture) -> None:
    read = skipping(_replicas, "PetSet", log)
    assert read({"spec": {"replicas": "3"}}) == 3
    with caplog.at_level(logging.WARNING, "kubeapi.test"):
        assert read(BAD) is None
        assert read(BAD) is None
    assert caplog.text.count("skipping PetSet ns/web: ValueError(") == 2


def test_once_warns_about_each_object_and_error_a_single_time(caplog: pytest.LogCaptureFixture) -> None:
    read = skipping(_replicas, "PetSet", log, reason=lambda err: f"spec.replicas: {err}", once=True)
    with caplog.at_level(logging.WARNING, "kubeapi.test"):
        for _ in range(3):
            assert read(BAD) is None
        assert read({"metadata": {"name": "other"}, "spec": {}}) is None
    assert caplog.text.count("skipping PetSet ns/web: spec.replicas: invalid literal") == 1
    assert "skipping PetSet /other: spec.replicas: 'replicas'" in caplog.text


def test_errors_outside_the_policy_still_fail() -> None:
    read = skipping(_replicas, "PetSet", log, errors=(KeyError,))
    assert read({"spec": {}}) is None
    with pytest.raises(ValueError):
        read(BAD)
