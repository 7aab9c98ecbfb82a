"""Reading a Corefile whole (`load`, `translate_file`) and printing what each line became (`lines`)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from petdns.corefile.entries import Entry
from petdns.corefile.servers import Translation, translate
from petdns.corefile.syntax import CorefileError, Reader, parse


def translate_file(path: str, env: Mapping[str, str] | None = None) -> Translation:
    """The translation of the Corefile at `path`; CorefileError when it cannot even be parsed (a
    directive petdns cannot express is recorded on its line instead)."""
    reader = Reader(env)
    servers = parse(reader.file(path))
    result = translate(servers, reader.files)
    for token, matched in reader.imports:
        found = f"{len(matched)} file(s): {', '.join(matched)}" if matched else "no file matches now"
        result.entries.append(Entry(token.file, token.line, f"import {token.text}", notes=[found]))
    order = {f: i for i, f in enumerate(reader.files)}
    result.entries.sort(key=lambda e: (order.get(e.file, len(order)), e.line))
    return result


def load(path: str, env: Mapping[str, str] | None = None) -> Translation:
    """`translate_file`, raising the first line's error (CorefileError naming file:line)."""
    result = translate_file(path, env)
    err = result.first_error()
    if err is not None:
        raise err
    return result


def files(path: str) -> list[str]:
    """The Corefile and the files it imports now (what a reload follows), up to a broken one."""
    reader = Reader()
    with contextlib.suppress(CorefileError):  # a broken file is still followed, to see it fixed
        reader.file(path)
    return reader.files or [path]


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def lines(result: Translation) -> list[str]:
    """One line per Corefile line: `FILE:LINE: TEXT -> key=value, ...`, `-> error: ...`, `-> (note)`;
    then what the missing directives mean."""
    out = []
    for e in result.entries:
        said = [f"{key}={_show(value)}" for key, value in e.values]
        said += [f"({note})" for note in e.notes]
        if e.error:
            said = [f"error: {e.error}"]
        out.append(f"{e.file}:{e.line}: {e.text} -> {', '.join(said) or '(nothing)'}")
    out += [f"({why}) -> {key}={_show(value)}" for why, key, value in result.implied]
    return out
