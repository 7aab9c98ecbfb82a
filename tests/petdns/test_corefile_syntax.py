"""Corefile syntax as CoreDNS reads it: blocks and keys, comments, quotes, {$ENV}, snippets, imports, and
errors naming file:line and the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from petdns.corefile import report
from petdns.corefile.syntax import CorefileError, Directive, ServerBlock, read


def _shape(directives: tuple[Directive, ...]) -> list[object]:
    return [
        (d.name.text, list(d.words), None if d.block is None else _shape(d.block), Path(d.file).name, d.line)
        for d in directives
    ]


def _blocks(path: Path, env: dict[str, str] | None = None) -> list[ServerBlock]:
    return read(str(path), env or {})


def test_blocks_keys_directives_nested_blocks_comments_and_quotes(tmp_path: Path) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(
        "# a comment line\n"
        ".:53 dns://cluster.local:1053,\n"
        "  in-addr.arpa {\n"
        "    errors   # trailing comment\n"
        '    template IN A example.org {\n        answer "{{ .Name }} 60 IN A 10.0.0.1"\n    }\n'
        "    log\n"
        "}\n"
        "corp.example {\n    forward . 10.0.0.53\n}\n"
    )
    first, second = _blocks(corefile)
    assert [k.text for k in first.keys] == [".:53", "dns://cluster.local:1053", "in-addr.arpa"]
    assert _shape(first.directives) == [
        ("errors", [], None, "Corefile", 4),
        ("template", ["IN", "A", "example.org"], [("answer", ["{{ .Name }} 60 IN A 10.0.0.1"], None, "Corefile", 6)], "Corefile", 5),  # noqa: E501
        ("log", [], None, "Corefile", 8),
    ]  # fmt: skip
    assert first.directives[1].block[0].args[0].quoted  # type: ignore[index]
    assert [k.text for k in second.keys] == ["corp.example"]
    assert _shape(second.directives) == [("forward", [".", "10.0.0.53"], None, "Corefile", 11)]


def test_one_block_may_go_without_braces(tmp_path: Path) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:53\nerrors\nlog\n")
    (block,) = _blocks(corefile)
    assert [d.name.text for d in block.directives] == ["errors", "log"]


def test_environment_variables_with_and_without_defaults(tmp_path: Path) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:{$PORT} {\n    kubernetes {$ZONE:cluster.local} {$UNSET}x\n}\n")
    (block,) = _blocks(corefile, {"PORT": "5300"})
    assert block.keys[0].text == ".:5300"
    assert block.directives[0].words == ("cluster.local", "x")
    (block,) = _blocks(corefile, {"PORT": "53", "ZONE": "corp.local"})
    assert block.directives[0].words == ("corp.local", "x")


def test_snippets_and_imports_relative_to_the_importing_file(tmp_path: Path) -> None:
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "b.override").write_text("log\n")
    (tmp_path / "custom" / "a.override").write_text("rewrite name exact a.example b.example\n")
    (tmp_path / "custom" / "corp.server").write_text("corp.example:53 {\n    import common\n}\n")
    (tmp_path / "Corefile").write_text(
        "(common) {\n    errors\n    forward . 10.0.0.53\n}\n"
        ".:53 {\n    import common\n    import custom/*.override\n    import custom/*.nothing\n}\n"
        "import custom/*.server\n"
    )
    root, corp = _blocks(tmp_path / "Corefile")
    assert _shape(root.directives) == [
        ("errors", [], None, "Corefile", 2),
        ("forward", [".", "10.0.0.53"], None, "Corefile", 3),
        ("rewrite", ["name", "exact", "a.example", "b.example"], None, "a.override", 1),
        ("log", [], None, "b.override", 1),
    ]
    assert [k.text for k in corp.keys] == ["corp.example:53"]
    assert [d.name.text for d in corp.directives] == ["errors", "forward"]


def test_a_one_line_snippet_imported_twice_gives_two_directives(tmp_path: Path) -> None:
    (tmp_path / "Corefile").write_text("(x) { log }\n.:53 {\n    import x\n    import x\n}\n")
    (block,) = _blocks(tmp_path / "Corefile")
    assert [(d.name.text, d.words) for d in block.directives] == [("log", ()), ("log", ())]


@pytest.mark.parametrize(
    ("text", "line", "token", "message"),
    [
        (".:53 {\n    errors\n", 1, "{", "never closed"),
        (".:53 {\n    log\n}\n}\n", 4, "}", "closes nothing"),
        ('.:53 {\n    log "open\n}\n', 2, None, "quoted string is not closed"),
        (".:53 {\n    import missing.conf\n}\n", 2, "missing.conf", "no snippet of that name"),
        (".:53 {\n    import\n}\n", 2, "import", "expected one snippet name"),
        (".:53 {\n    forward . { 1.1.1.1\n}\n", 2, "{", "braces go at the end"),
        (".:53 {\n}\ncorp.example\n", 3, "corp.example", "expected { after the keys"),
        ("(loop) {\n    import loop\n}\n.:53 {\n    import loop\n}\n", 2, "loop", "import cycle"),
    ],
)
def test_syntax_errors_name_file_line_and_token(
    tmp_path: Path, text: str, line: int, token: str | None, message: str
) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(text)
    with pytest.raises(CorefileError) as caught:
        _blocks(corefile)
    err = caught.value
    assert (err.file, err.line, err.token) == (str(corefile), line, token)
    assert message in err.message
    assert str(err).startswith(f"{corefile}:{line}: ")


def test_an_unreadable_corefile_is_named(tmp_path: Path) -> None:
    with pytest.raises(CorefileError, match="cannot be read"):
        _blocks(tmp_path / "nope")


def test_the_files_followed_include_what_imports_match_now(tmp_path: Path) -> None:
    (tmp_path / "Corefile").write_text(".:53 {\n    import extra/*.conf\n}\n")
    assert report.files(str(tmp_path / "Corefile")) == [str(tmp_path / "Corefile")]
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "log.conf").write_text("log\n")
    assert report.files(str(tmp_path / "Corefile")) == [
        str(tmp_path / "Corefile"),
        str(tmp_path / "extra" / "log.conf"),
    ]
