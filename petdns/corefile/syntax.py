"""Corefile syntax as CoreDNS (Caddy) reads it: tokens, `{$ENV}`, snippets, `import`, blocks.

A token is a word or a quoted string; `#` at the start of a token comments out the rest of the line.
`{$NAME}` and `{$NAME:default}` are replaced inside tokens. `(name) { ... }` at the top defines a
snippet; `import NAME` (first on its line, anywhere) puts the snippet's tokens there, else `import
GLOB` the tokens of the matching files (relative to the importing file; a glob matching nothing is
fine, a plain path that is missing is not). Then: server blocks (keys, then `{ directives }`), each
directive a line of tokens, ending in `{` when lines of options follow up to the matching `}`.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

MAX_IMPORT_DEPTH = 10
ENV = re.compile(r"\{\$([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


class CorefileError(ValueError):
    """A Corefile that cannot be used: the file, the line and the token at fault."""

    def __init__(self, file: str, line: int | None, token: str | None, message: str) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {token}: {message}" if token else f"{where}: {message}")
        self.file = file
        self.line = line
        self.token = token
        self.message = message


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a Corefile; `copy` tells apart two imports of the same lines."""

    text: str
    file: str
    line: int
    quoted: bool = False
    copy: int = 0

    @property
    def row(self) -> tuple[str, int, int]:
        return self.file, self.line, self.copy

    def is_(self, text: str) -> bool:
        """The unquoted word `text` (a quoted "{" is a plain argument)."""
        return not self.quoted and self.text == text

    def error(self, message: str) -> CorefileError:
        return CorefileError(self.file, self.line, self.text, message)


@dataclass(frozen=True, slots=True)
class Directive:
    """A line of a block: its name, its arguments and the lines of its `{ }` block (None: no block)."""

    name: Token
    args: tuple[Token, ...]
    block: tuple[Directive, ...] | None = None

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(t.text for t in self.args)

    @property
    def file(self) -> str:
        return self.name.file

    @property
    def line(self) -> int:
        return self.name.line

    def text(self) -> str:
        """The line as written (quotes put back), with `{` when a block follows."""
        words = [f'"{t.text}"' if t.quoted else t.text for t in (self.name, *self.args)]
        return " ".join(words + (["{"] if self.block is not None else []))

    def error(self, message: str) -> CorefileError:
        return self.name.error(message)


@dataclass(frozen=True, slots=True)
class ServerBlock:
    """A server block: its keys (`.:53`, `cluster.local:53`, ...) and its directives."""

    keys: tuple[Token, ...]
    directives: tuple[Directive, ...]


def substitute(text: str, env: Mapping[str, str]) -> str:
    """`{$NAME}` (empty when unset) and `{$NAME:default}` replaced."""
    return ENV.sub(lambda m: env.get(m.group(1), m.group(2) or ""), text)


def lex(text: str, file: str, env: Mapping[str, str]) -> list[Token]:
    """The tokens of one file's text."""
    tokens: list[Token] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line, i = line + 1, i + 1
        elif c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c == '"':
            start, i, buf = line, i + 1, []
            while True:
                if i >= n:
                    raise CorefileError(file, start, None, "a quoted string is not closed")
                c = text[i]
                if c == "\\" and i + 1 < n and text[i + 1] in '"\\':
                    buf.append(text[i + 1])
                    i += 2
                    continue
                i += 1
                if c == '"':
                    break
                line += c == "\n"
                buf.append(c)
            tokens.append(Token(substitute("".join(buf), env), file, start, quoted=True))
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            tokens.append(Token(substitute(text[i:j], env), file, line))
            i = j
    return tokens


def _line_at(tokens: list[Token], i: int) -> list[Token]:
    row = tokens[i].row
    j = i
    while j < len(tokens) and tokens[j].row == row:
        j += 1
    return tokens[i:j]


def _first_on_line(tokens: list[Token], i: int) -> bool:
    return i == 0 or tokens[i - 1].row != tokens[i].row


def _closing(tokens: list[Token], i: int) -> int:
    """The index of the `}` matching the `{` at `i`."""
    depth = 0
    for j in range(i, len(tokens)):
        depth += tokens[j].is_("{") - tokens[j].is_("}")
        if depth == 0:
            return j
    raise tokens[i].error("this { is never closed")


Read = Callable[[str], str]


def _read_file(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class Reader:
    """Reads a Corefile and what it imports into one token list; `files` lists every file read."""

    def __init__(self, env: Mapping[str, str] | None = None, read: Read = _read_file) -> None:
        self.env = os.environ if env is None else env
        self.read = read
        self.snippets: dict[str, list[Token]] = {}
        self.files: list[str] = []
        self.imports: list[tuple[Token, list[str]]] = []  # each file import and the files it matched
        self._copies = itertools.count(1)

    def file(self, path: str, depth: int = 0, by: Token | None = None) -> list[Token]:
        try:
            text = self.read(path)
        except (OSError, UnicodeDecodeError) as err:
            if by is not None:
                raise by.error(f"cannot read {path}: {err}") from None
            raise CorefileError(path, None, None, f"cannot be read: {err}") from None
        self.files.append(path)
        return self.expand(lex(text, path, self.env), depth)

    def expand(self, tokens: list[Token], depth: int) -> list[Token]:
        """Snippets taken out, imports put in."""
        out: list[Token] = []
        braces, i = 0, 0
        while i < len(tokens):
            t = tokens[i]
            first = _first_on_line(tokens, i)
            if first and braces == 0 and not t.quoted and len(t.text) > 2 and t.text[0] + t.text[-1] == "()":
                if i + 1 >= len(tokens) or not tokens[i + 1].is_("{"):
                    raise t.error("a snippet needs its { on the same line")
                end = _closing(tokens, i + 1)
                self.snippets[t.text[1:-1]] = tokens[i + 2 : end]
                i = end + 1
                continue
            if first and t.is_("import"):
                line = _line_at(tokens, i)
                if len(line) != 2:
                    raise t.error("expected one snippet name, file or glob")
                out += self._import(line[1], depth + 1)
                i += len(line)
                continue
            braces += t.is_("{") - t.is_("}")
            out.append(t)
            i += 1
        return out

    def _import(self, what: Token, depth: int) -> list[Token]:
        if depth > MAX_IMPORT_DEPTH:
            raise what.error(f"imports nest deeper than {MAX_IMPORT_DEPTH} (an import cycle?)")
        snippet = self.snippets.get(what.text)
        if snippet is not None:
            copy = next(self._copies)
            return self.expand([replace(t, copy=copy) for t in snippet], depth)
        pattern = os.path.join(os.path.dirname(what.file), what.text)
        paths = sorted(glob.glob(pattern))
        if not paths and not glob.has_magic(pattern):
            raise what.error(f"no snippet of that name, and no file {pattern}")
        self.imports.append((what, paths))
        out: list[Token] = []
        for path in paths:
            copy = next(self._copies)
            out += [replace(t, copy=copy) for t in self.file(path, depth, what)]
        return out


def _keys(tokens: list[Token], i: int) -> tuple[list[Token], int, Token | None]:
    """The keys of a server block from `i` (comma or space separated, a trailing comma continues the
    line), the index after them and the `{` ending their line, if any (the index is past it)."""
    keys: list[Token] = []
    while True:
        line = _line_at(tokens, i)
        i += len(line)
        opened = line[-1] if line[-1].is_("{") else None
        for t in line[:-1] if opened else line:
            keys += [replace(t, text=part) for part in t.text.split(",") if part]
        if opened or not line[-1].text.endswith(",") or i >= len(tokens):
            return keys, i, opened


def _body(tokens: list[Token], i: int, opened: Token | None) -> tuple[list[Directive], int]:
    """Directives from `i` up to the `}` closing `opened` (to the end when None); index after it."""
    out: list[Directive] = []
    while i < len(tokens):
        t = tokens[i]
        if t.is_("}"):
            if opened is None:
                raise t.error("a } that closes nothing")
            return out, i + 1
        if t.is_("{"):
            raise t.error("a { needs a directive before it on its line")
        line = _line_at(tokens, i)
        args = line[1:]
        for a in args[:-1]:
            if a.is_("{") or a.is_("}"):
                raise a.error("braces go at the end of a directive's line")
        if args and args[-1].is_("}"):
            raise args[-1].error("a } goes on a line of its own")
        if args and args[-1].is_("{"):
            block, i = _body(tokens, i + len(line), args[-1])
            out.append(Directive(t, tuple(args[:-1]), tuple(block)))
        else:
            out.append(Directive(t, tuple(args)))
            i += len(line)
    if opened is not None:
        raise opened.error("this { is never closed")
    return out, i


def parse(tokens: list[Token]) -> list[ServerBlock]:
    """The server blocks of expanded tokens."""
    blocks: list[ServerBlock] = []
    i = 0
    while i < len(tokens):
        if tokens[i].is_("}"):
            raise tokens[i].error("a } that closes nothing")
        if tokens[i].is_("{"):
            raise tokens[i].error("expected the keys of a server block (such as .:53)")
        keys, i, opened = _keys(tokens, i)
        if opened is not None:
            directives, i = _body(tokens, i, opened)
        elif i < len(tokens) and tokens[i].is_("{"):
            directives, i = _body(tokens, i + 1, tokens[i])
        elif not blocks:  # one server block may go without braces: its directives run to the end
            directives, i = _body(tokens, i, None)
        else:
            raise keys[0].error("expected { after the keys of a server block")
        blocks.append(ServerBlock(tuple(keys), tuple(directives)))
    return blocks


def read(path: str, env: Mapping[str, str] | None = None, reader: Reader | None = None) -> list[ServerBlock]:
    """The server blocks of the Corefile at `path` with its imports; CorefileError naming file:line."""
    reader = reader or Reader(env)
    return parse(reader.file(path))
