"""The CoreDNS plugins of the default Corefiles mapped onto petdns's settings keys: kubernetes,
forward, cache, health, ready, prometheus, errors, log, reload, loop, loadbalance, bind (the
record-making ones, hosts, rewrite, template and acl, are in `records`). Every option not listed
is an error naming its line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from petdns.corefile.entries import (
    Block,
    Out,
    address,
    args,
    count,
    duration,
    is_reverse,
    no_block,
    within,
    zone,
    zones,
)
from petdns.corefile.syntax import CorefileError, Directive

Handler = Callable[[Directive, Block, Out], None]
Option = Callable[[Directive], None]
PODS = ("disabled", "insecure", "verified")
POLICIES = ("random", "round_robin", "sequential")


def options(d: Directive, out: Out, table: Mapping[str, Option]) -> None:
    """Each line of `d`'s block through its handler; an unknown option or a failing one is recorded
    as that line's error (the others still map)."""
    for o in d.block or ():
        out.entry(o)
        try:
            handler = table.get(o.name.text)
            if handler is None:
                known = ", ".join(sorted(table)) or "none"
                raise o.error(f"{d.name.text} option petdns cannot express (it knows: {known})")
            handler(o)
            entry = out.entry(o)
            if not entry.values and not entry.notes:
                entry.notes.append(f"in the {d.name.text} value above")
        except CorefileError as err:
            out.fail(err, o)


def flag(out: Out, key: str) -> Option:
    def handle(o: Directive) -> None:
        args(o, 0, 0)
        no_block(o)
        out.set(o, key, True)

    return handle


def kubernetes(d: Directive, block: Block, out: Out) -> None:
    given = zones(d.args, block)
    if "." in given:
        raise d.error("petdns serves cluster domains under the kubernetes plugin, not the root zone")
    cluster = [z for z in given if not is_reverse(z)]
    if not cluster:
        raise d.error("no cluster domain among the zones")
    out.set(d, "zones", cluster)
    if len(cluster) < len(given):
        out.note(d, "petdns always answers in-addr.arpa and ip6.arpa for the cluster's IPs")

    def pods(o: Directive) -> None:
        (mode,) = args(o, 1, 1)
        if mode.text not in PODS:
            raise mode.error(f"expected one of {', '.join(PODS)}")
        out.set(o, "pods", mode.text)

    def ttl(o: Directive) -> None:
        out.set(o, "ttl", count(args(o, 1, 1)[0], 0, 3600))

    def words(key: str, joined: bool) -> Option:
        def handle(o: Directive) -> None:
            args(o, 1)
            out.set(o, key, " ".join(o.words) if joined else list(o.words))

        return handle

    def fallthrough(o: Directive) -> None:
        out.set(o, "fallthrough", [zone(t) for t in o.args])

    def kubeconfig(o: Directive) -> None:
        given = args(o, 1, 2)
        out.set(o, "kubeconfig", given[0].text)
        if len(given) == 2:
            out.set(o, "context", given[1].text)

    def removed(o: Directive) -> None:
        raise o.error("this option was removed from CoreDNS's kubernetes plugin; delete the line")

    def endpoint(o: Directive) -> None:
        raise o.error("petdns reaches the API server by `kubeconfig FILE [CONTEXT]` or in-cluster")

    options(
        d,
        out,
        {
            "pods": pods,
            "endpoint_pod_names": flag(out, "endpoint_pod_names"),
            "ttl": ttl,
            "namespaces": words("namespaces", joined=False),
            "labels": words("labels", joined=True),
            "namespace_labels": words("namespace_labels", joined=True),
            "noendpoints": flag(out, "noendpoints"),
            "fallthrough": fallthrough,
            "kubeconfig": kubeconfig,
            "endpoint": endpoint,
            "upstream": removed,
            "resyncperiod": removed,
        },
    )


def forward(d: Directive, block: Block, out: Out) -> None:
    given = args(d, 2)
    origin = zone(given[0])
    domains = list(block.zones) if origin == "." else [origin]
    for domain in domains:
        if not any(within(domain, z) for z in block.zones):
            raise given[0].error(f"not within the server block's zones ({', '.join(block.zones)})")
    files = [t for t in given[1:] if "/" in t.text and "://" not in t.text]
    upstreams = [address(t) for t in given[1:] if t not in files]
    if files and upstreams:
        raise d.error("petdns forwards to a resolv.conf or to addresses, not both at once")
    if len(files) > 1:
        raise files[1].error("one resolv.conf only")
    if files and domains != ["."]:
        raise files[0].error("a stub domain needs upstream addresses, not a resolv.conf")
    for domain in domains:
        if domain == ".":
            key, value = ("resolv_conf", files[0].text) if files else ("upstream", upstreams)
            out.set(d, key, value)
        else:
            out.stub(d, domain, upstreams)
    stub = domains != ["."]

    def setting(key: str, read: Callable[[Directive], object]) -> Option:
        def handle(o: Directive) -> None:
            no_block(o)
            out.set(o, key, read(o))
            if stub:
                out.note(o, "petdns has one forwarder: this holds for all forwarding")

        return handle

    def policy(o: Directive) -> str:
        (name,) = args(o, 1, 1)
        if name.text not in POLICIES:
            raise name.error(f"expected one of {', '.join(POLICIES)}")
        return name.text

    def health_check(o: Directive) -> float:
        given = args(o, 1, 1)
        return duration(given[0])

    def on(o: Directive) -> bool:
        args(o, 0, 0)
        return True

    options(
        d,
        out,
        {
            "except": setting("forward_except", lambda o: [zone(t) for t in args(o, 1)]),
            "policy": setting("upstream_policy", policy),
            "max_fails": setting("forward_max_fails", lambda o: count(args(o, 1, 1)[0])),
            "health_check": setting("forward_health_check", health_check),
            "max_concurrent": setting("forward_max_concurrent", lambda o: count(args(o, 1, 1)[0])),
            "force_tcp": setting("forward_force_tcp", on),
            "prefer_udp": setting("forward_prefer_udp", on),
            "expire": setting("forward_expire", lambda o: duration(args(o, 1, 1)[0])),
        },
    )


def cache(d: Directive, block: Block, out: Out) -> None:
    given = list(d.args)
    if given and given[0].text.isdigit():
        ttl = count(given.pop(0), 0, 2**31 - 1)
        out.set(d, "cache_max_ttl", ttl)
        out.set(d, "cache_max_negative_ttl", ttl)
    else:
        out.note(d, "the TTL caps stay petdns's: 3600 s, 1800 s negative")
    if any(zone(t) != "." for t in given):
        raise given[0].error("petdns caches what it forwards, for all names: no cache zones")

    def capacity(key: str) -> Option:
        def handle(o: Directive) -> None:
            given = args(o, 1, 3)
            value = {"capacity": count(given[0])}
            for name, token in zip(("ttl", "min_ttl"), given[1:], strict=False):
                value[name] = count(token)
            out.set(o, key, value)

        return handle

    def prefetch(o: Directive) -> None:
        given = args(o, 1, 3)
        value: dict[str, object] = {"amount": count(given[0], 1), "duration": 60.0, "percentage": 10}
        for token in given[1:]:
            if token.text.endswith("%"):
                value["percentage"] = count(replace(token, text=token.text[:-1]), 0, 100)
            else:
                value["duration"] = duration(token)
        out.set(o, "cache_prefetch", value)

    def serve_stale(o: Directive) -> None:
        given = args(o, 0, 2)
        out.set(o, "serve_stale", duration(given[0]) if given else 3600.0)
        mode = given[1].text if len(given) == 2 else "immediate"
        if mode not in ("immediate", "verify"):
            raise given[1].error("expected immediate or verify")
        if mode == "immediate":
            out.note(o, "petdns asks the upstreams first and answers stale when none answers (verify)")

    def disable(o: Directive) -> None:
        given = args(o, 1)
        if given[0].text not in ("success", "denial"):
            raise given[0].error("expected success or denial")
        own = out.values.get("zones", [])
        names = [zone(t) for t in given[1:]] or list(block.zones)
        if all(any(within(n, z) for z in own) for n in names) and names != ["."]:
            out.note(o, "petdns never caches its own zones' answers: nothing to disable")
            return
        if names != ["."]:
            raise o.error("petdns disables caching for all forwarded names or none: no zones")
        out.set(o, "cache_disable", [given[0].text])

    options(
        d,
        out,
        {
            "success": capacity("cache_success"),
            "denial": capacity("cache_denial"),
            "prefetch": prefetch,
            "serve_stale": serve_stale,
            "disable": disable,
        },
    )


def listener(key: str, default: str) -> Handler:
    def handle(d: Directive, block: Block, out: Out) -> None:
        given = args(d, 0, 1)
        out.set(d, key, [given[0].text if given else default])
        if key != "health_listen":
            no_block(d)

        def lameduck(o: Directive) -> None:
            out.set(o, "lameduck", duration(args(o, 1, 1)[0]))

        options(d, out, {"lameduck": lameduck} if key == "health_listen" else {})

    return handle


def errors(d: Directive, block: Block, out: Out) -> None:
    args(d, 0, 0)
    no_block(d)
    out.note(d, "petdns logs its errors always")


def log(d: Directive, block: Block, out: Out) -> None:
    if [z for z in d.args if zone(z) != "."]:
        raise d.error("petdns logs every query or none: no names or format")
    no_block(d)
    out.set(d, "query_log", True)


def reload(d: Directive, block: Block, out: Out) -> None:
    given = args(d, 0, 2)
    for token in given:
        duration(token)
    no_block(d)
    out.note(d, "petdns follows the Corefile and its imports always (checked every second)")


def loop(d: Directive, block: Block, out: Out) -> None:
    args(d, 0, 0)
    no_block(d)
    out.set(d, "loop_detect", True)


def loadbalance(d: Directive, block: Block, out: Out) -> None:
    given = args(d, 0, 1)
    if given and given[0].text != "round_robin":
        raise given[0].error("petdns rotates answers round_robin only")
    no_block(d)
    out.set(d, "loadbalance", True)


def bind(d: Directive, block: Block, out: Out) -> None:
    given = args(d, 1)
    no_block(d)
    for token in given:
        host = address(token).rsplit(":", 1)[0]
        if host not in block.binds:
            block.binds.append(host)
    out.note(d, "the addresses listen on the server block's ports")


def removed(replacement: str) -> Handler:
    def handle(d: Directive, block: Block, out: Out) -> None:
        raise d.error(f"this plugin was removed from CoreDNS; {replacement}")

    return handle


HANDLERS: dict[str, Handler] = {
    "kubernetes": kubernetes,
    "forward": forward,
    "cache": cache,
    "health": listener("health_listen", ":8080"),
    "ready": listener("ready_listen", ":8181"),
    "prometheus": listener("metrics_listen", "127.0.0.1:9153"),
    "errors": errors,
    "log": log,
    "reload": reload,
    "loop": loop,
    "loadbalance": loadbalance,
    "bind": bind,
    "proxy": removed("use forward (same arguments)"),
    "federation": removed("delete the block"),
}
