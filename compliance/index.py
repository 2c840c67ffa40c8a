"""The screening index: every name of the current lists, normalised once, blocked by token.

A name screened is compared only with the list names that share enough of its tokens:
- each of its tokens is looked up in the vocabulary of the list names' tokens, exactly and
  fuzzily (`rapidfuzz.process.extract`, ratio >= TOKEN_CUTOFF; remembered per token, since
  the same first names and surnames come back again and again);
- a list name is a candidate when at least min(2, its tokens, the query's tokens) tokens of
  the query found it; a token found in more than COMMON_SHARE of the names ("al", "bin",
  "company") makes candidates only together with another such token;
- each candidate is scored with `names.token_score`, and the best name of each entry at or
  above the threshold is a hit.
Names written in an abjad (Arabic, Hebrew) are looked up and scored on consonant skeletons.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from compliance.names import normalise, skeleton_tokens, token_score

SCREEN_THRESHOLD = 88.0
TOKEN_CUTOFF = 80.0
COMMON_SHARE = 0.01


@dataclass(frozen=True, slots=True)
class Hit:
    entry_id: int
    name_id: int
    matched_name: str
    score: float


class _Blocks:
    """Token -> ids of the names that have it, with fuzzy lookup of a query token."""

    def __init__(self, names: list[tuple[str, ...]]) -> None:
        postings: dict[str, set[int]] = {}
        for i, tokens in enumerate(names):
            for token in set(tokens):
                postings.setdefault(token, set()).add(i)
        self.postings = postings
        # By length: a ratio of 80 needs the shorter token at least 2/3 of the longer.
        self.by_length: dict[int, list[str]] = {}
        for token in postings:
            self.by_length.setdefault(len(token), []).append(token)
        self.common = max(50, int(COMMON_SHARE * len(names)))
        self._cache: dict[str, frozenset[int]] = {}

    def lookup(self, token: str) -> frozenset[int]:
        found = self._cache.get(token)
        if found is not None:
            return found
        ids: set[int] = set(self.postings.get(token, ()))
        if len(token) >= 3:
            size = len(token)
            for length in range(-(-2 * size // 3), size * 3 // 2 + 1):
                for other, _, _ in process.extract(
                    token,
                    self.by_length.get(length, ()),
                    scorer=fuzz.ratio,
                    score_cutoff=TOKEN_CUTOFF,
                    limit=None,
                ):
                    ids |= self.postings[other]
        result = frozenset(ids)
        if len(self._cache) < 500_000:
            self._cache[token] = result
        return result


class NameIndex:
    def __init__(self, rows: Iterable[tuple[int, int, str, str]]) -> None:
        """rows: (name id, entry id, the name as listed, its normalised text)."""
        self.name_ids: list[int] = []
        self.entry_ids: list[int] = []
        self.names: list[str] = []
        self.tokens: list[tuple[str, ...]] = []
        for name_id, entry_id, name, text in rows:
            tokens = tuple(text.split())
            if not tokens:
                continue
            self.name_ids.append(name_id)
            self.entry_ids.append(entry_id)
            self.names.append(name)
            self.tokens.append(tokens)
        self.skeletons = [skeleton_tokens(t) for t in self.tokens]
        self.lengths = [len(t) for t in self.tokens]
        self.by_token = _Blocks(self.tokens)
        self.by_skeleton = _Blocks(self.skeletons)

    def __len__(self) -> int:
        return len(self.tokens)

    def search(self, name: str, threshold: float = SCREEN_THRESHOLD) -> list[Hit]:
        query = normalise(name)
        if not query.tokens:
            return []
        if query.abjad:
            q_tokens, blocks, targets = (
                skeleton_tokens(query.tokens),
                self.by_skeleton,
                self.skeletons,
            )
        else:
            q_tokens, blocks, targets = query.tokens, self.by_token, self.tokens
        sets = [blocks.lookup(token) for token in dict.fromkeys(q_tokens)]
        rare = [s for s in sets if len(s) <= blocks.common]
        common = [s for s in sets if len(s) > blocks.common]
        pool: set[int] = set().union(*rare) if rare else set()
        if len(sets) == 1 and common:
            pool |= common[0]
        for i, first in enumerate(common):  # two common tokens together are rare enough
            for second in common[i + 1 :]:
                pool |= first & second
        counts: Counter[int] = Counter()
        for found in sets:
            counts.update(pool & found)
        need = min(2, len(sets))
        lengths = self.lengths
        best: dict[int, Hit] = {}
        for i, count in counts.items():
            if count < need and count < lengths[i]:
                continue
            value = token_score(q_tokens, targets[i])
            if value < threshold:
                continue
            entry_id = self.entry_ids[i]
            previous = best.get(entry_id)
            if previous is None or value > previous.score:
                best[entry_id] = Hit(entry_id, self.name_ids[i], self.names[i], value)
        return sorted(best.values(), key=lambda hit: -hit.score)
