"""Near misses: names within a small edit distance of a typed label."""

from __future__ import annotations

from collections.abc import Iterable


def distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps."""
    if a == b:
        return 0
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def near(word: str, candidates: Iterable[str], *, limit: int = 3) -> list[str]:
    """Candidates within distance 2 (1 for words of up to 4 characters), closest first, then by name."""
    most = 1 if len(word) <= 4 else 2
    scored = sorted((d, c) for c in set(candidates) if c != word and (d := distance(word, c)) <= most)
    return [c for _, c in scored[:limit]]
