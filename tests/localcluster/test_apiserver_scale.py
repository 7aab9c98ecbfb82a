"""The Scale subresource of the example PetSet over HTTP and through kubectl: replicas and selector."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from tests.localcluster.conftest import LocalApi

PETSET_EXAMPLE = Path(__file__).parents[2] / "config" / "examples" / "petset.yaml"


async def test_scale_selector_defaults_to_template_labels(api: LocalApi, ns: str) -> None:
    api.kubectl("create", "-n", ns, "-f", str(PETSET_EXAMPLE))
    async with aiohttp.ClientSession(base_url=api.url) as http:
        for group_version in ("apps/v1alpha1", "petdns.dev/v1"):
            async with http.get(f"/apis/{group_version}/namespaces/{ns}/petsets/web/scale") as resp:
                assert resp.status == 200
                scale = await resp.json()
            assert (scale["apiVersion"], scale["kind"]) == ("autoscaling/v1", "Scale")
            assert scale["spec"] == {"replicas": 2}
            assert scale["status"]["selector"] == "app=nginx"
        async with http.get(f"/apis/apps/v1alpha1/namespaces/{ns}/petsets/web") as resp:
            stored = await resp.json()
    # written as apps/v1alpha1, the set is defaulted as PetSet v1.4 was: selector and labels from the template
    assert stored["spec"]["selector"] == {"matchLabels": {"app": "nginx"}}
    assert stored["metadata"]["labels"] == {"app": "nginx"}


def test_kubectl_reads_the_scale_selector(api: LocalApi, ns: str) -> None:
    api.kubectl("create", "-n", ns, "-f", str(PETSET_EXAMPLE))
    raw = api.kubectl("get", "--raw", f"/apis/apps/v1alpha1/namespaces/{ns}/petsets/web/scale").stdout
    scale = json.loads(raw)
    assert scale["status"]["selector"] == "app=nginx" and scale["spec"]["replicas"] == 2
    api.kubectl("scale", "-n", ns, "petset", "web", "--replicas=3")
    again = json.loads(
        api.kubectl("get", "--raw", f"/apis/petdns.dev/v1/namespaces/{ns}/petsets/web/scale").stdout
    )
    assert again["spec"]["replicas"] == 3 and again["status"]["selector"] == "app=nginx"
