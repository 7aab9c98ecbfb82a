"""The diagnosis of one name: parse steps, records and who makes them, causes with fixes; text and JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Step:
    """One level of the name as it is read: `level` (zone, namespace, service, ...), the label read,
    whether that level is found, and what was found."""

    level: str
    label: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Cause:
    """Why the name does not resolve (or a warning when it does), and what to change."""

    message: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class Record:
    """One answer record in zone-file text, and the objects that make it."""

    text: str
    made_by: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Tried:
    """One name a resolver's search path tries, and what it gets."""

    name: str
    rcode: str


@dataclass
class Diagnosis:
    """What `petdns explain` prints. `rcode`: NOERROR (with data), NODATA, NXDOMAIN, SERVFAIL (a server
    that has not synced) or OUTSIDE (not in a served zone: forwarded, or refused)."""

    name: str
    qtype: str
    rcode: str = "NXDOMAIN"
    resolves: bool = False
    steps: list[Step] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    causes: list[Cause] = field(default_factory=list)
    notes: list[Cause] = field(default_factory=list)
    did_you_mean: list[str] = field(default_factory=list)
    searched: list[Tried] = field(default_factory=list)
    asked: str = ""  # the name as given, when a search path turned it into `name`

    def step(self, level: str, label: str, ok: bool, detail: str) -> bool:
        self.steps.append(Step(level, label, ok, detail))
        return ok

    def cause(self, message: str, fix: str = "") -> None:
        if Cause(message, fix) not in self.causes:
            self.causes.append(Cause(message, fix))

    def note(self, message: str, fix: str = "") -> None:
        if Cause(message, fix) not in self.notes:
            self.notes.append(Cause(message, fix))

    def suggest(self, names: list[str]) -> None:
        for name in names:
            if name not in self.did_you_mean and name != self.name:
                self.did_you_mean.append(name)

    @property
    def main(self) -> Cause | None:
        """The cause the verdict names: the first one that says what to change, else the first."""
        if self.resolves or not self.causes:
            return None
        return next((c for c in self.causes if c.fix), self.causes[0])

    @property
    def verdict(self) -> str:
        """One line: the records, or the main cause."""
        if self.resolves:
            n = len(self.records)
            return f"{self.name} {self.qtype} resolves: {n} record{'s' if n != 1 else ''}"
        main = self.main
        return main.message if main is not None else f"{self.name} {self.qtype}: {self.rcode}"

    @property
    def fix(self) -> str:
        main = self.main
        return main.fix if main is not None else ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "asked": self.asked or self.name,
            "type": self.qtype,
            "resolves": self.resolves,
            "rcode": self.rcode,
            "verdict": self.verdict,
            "fix": self.fix,
            "steps": [
                {"level": s.level, "label": s.label, "ok": s.ok, "detail": s.detail} for s in self.steps
            ],
            "records": [{"record": r.text, "made_by": list(r.made_by)} for r in self.records],
            "causes": [{"message": c.message, "fix": c.fix} for c in self.causes],
            "notes": [{"message": c.message, "fix": c.fix} for c in self.notes],
            "did_you_mean": self.did_you_mean,
            "searched": [{"name": t.name, "rcode": t.rcode} for t in self.searched],
        }

    def to_text(self) -> str:
        lines = [f"{self.name} {self.qtype}: {self.rcode}"]
        if self.asked and self.asked != self.name:
            lines[0] += f" (asked as {self.asked})"
        if self.searched:
            lines.append("search path:")
            lines += [f"  {t.name}: {t.rcode}" for t in self.searched]
        lines.append("parse:")
        lines += [f"  {'ok ' if s.ok else 'NO '} {s.level:<9} {s.label:<16} {s.detail}" for s in self.steps]
        if self.records:
            lines.append("records:")
            for r in self.records:
                lines.append(f"  {r.text}")
                lines += [f"      made by {who}" for who in r.made_by]
        if len(self.causes) > 1:
            lines.append("causes:")
            lines += [f"  - {c.message}" + (f": {c.fix}" if c.fix else "") for c in self.causes]
        for c in self.notes:
            lines.append(f"note: {c.message}" + (f": {c.fix}" if c.fix else ""))
        if self.did_you_mean:
            lines.append("did you mean: " + ", ".join(self.did_you_mean))
        verdict = f"verdict: {self.verdict}"
        if self.fix:
            verdict += f": {self.fix}"
        lines.append(verdict)
        return "\n".join(lines) + "\n"
