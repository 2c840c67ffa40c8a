"""One name normaliser and matcher, for sanctions screening and for Verification of Payee.

A name goes through the same steps on both sides of every comparison:

1. transliteration of any script to ASCII (`anyascii`: Cyrillic, Greek, Arabic, Hebrew,
   accents and ligatures: "Юрий" -> "Yuriy", "Müller" -> "Muller", "Straße" -> "Strasse");
2. case folding, punctuation and apostrophes dropped, every run of other characters a space;
3. legal forms dropped (GmbH, Ltd, S.A., SARL, AG, BV, Inc, LLC, plc... `LEGAL_FORMS`), as
   whole tokens, also when written with dots or spaces ("S. A.", "L.L.C.");
4. each token spelt in a canonical form that removes the usual transliteration variants
   (y/i, j/i, w/v, ph/f, kh/h, q/k, ou/u, ue/u, sch/sh, doubled letters: "Yuriy" and "Iurii" are both "iuri");
5. a name written in an abjad (Arabic, Hebrew: vowels not written) is compared on consonant
   skeletons, both sides without vowels ("محمد" -> "mhmd", "Mohammed" -> "mhmd").

`score(a, b)` (0..100) is the largest of three rapidfuzz measures on the canonical tokens:
the token-sort ratio (word order ignored, spelling differences counted), the ratio of the
words joined (words split or joined differently: "Nasr Allah", "Nasrallah"), and a token
alignment, in which every token of the shorter name is matched with its closest token of
the longer one: each word of the longer name left over costs MISSING_TOKEN_PENALTY points
(a missing middle name), particles ("al", "bin", "van", "de"...) nothing, and a one-word
name counts only its share of a longer name, so "Ali" alone never matches "Ali Hassan".

`verify_payee(given, holder)` answers as the EPC VOP scheme does:
- "MTCH" when the names are the same words after steps 1-3, in any order (case, accents,
  punctuation and legal forms do not count, nor German umlauts written out, "Mueller" for
  "Müller"; any other difference of transliteration does);
- "CMTC" with the holder's name when the score is >= 80 (a typo, a missing middle name,
  a transliteration);
- "NMTC" below 80, or when either name is empty after normalisation.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from anyascii import anyascii
from rapidfuzz import fuzz

CLOSE_MATCH_THRESHOLD = 80
# Each name of the longer side that has no counterpart costs this much (middle names).
MISSING_TOKEN_PENALTY = 8
# Particles of names: missing or extra, they cost nothing ("Ayman al-Zawahiri", "Ayman Zawahiri").
PARTICLES = frozenset(
    "al el bin ben ibn bint abu ul ud ad as ash az van von der den de da di du la le del dos das".split()
)

# Legal forms, written without dots or spaces, lower case. Dropped as whole tokens, and
# as sequences of one-letter tokens ("s a", "l l c") once dots are gone.
LEGAL_FORMS = frozenset(
    """
    ab ad ae ag aps as asa bhd bv bvba cia co corp corporation cv cvba eg eirl ek eood
    eurl ev gbr gie gmbh gmbhcokg inc incorporated jsc kft kg kgaa kk ky limited llc llp
    lp ltd ltda mbh nv oao ooo oy oyj pao pc plc pllc pjsc pt pte pty sa saa sab sadecv
    sae sal sapi sarl sas sasu sc sca scs sl sll sls snc soc spa spzoo sprl sro srl ug
    zao
    """.split()
)
# Multi-token spellings of legal forms, after punctuation has become spaces.
_LEGAL_PHRASES = [
    ("gmbh", "co", "kg"),
    ("sp", "z", "o", "o"),
    ("s", "de", "r", "l"),
    ("s", "a", "de", "c", "v"),
    ("co", "ltd"),
    ("pty", "ltd"),
    ("pvt", "ltd"),
    ("private", "limited"),
    ("public", "limited", "company"),
    ("limited", "liability", "company"),
    ("joint", "stock", "company"),
    ("closed", "joint", "stock", "company"),
    ("open", "joint", "stock", "company"),
]

_ABJAD = re.compile(
    r"[\u0590-\u05FF\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]"
)
_APOSTROPHES = re.compile(r"['`\u2018\u2019\u02BC\u02BB\u00B4]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_VOWELS = re.compile(r"[aeiou]")
# Order matters: longer patterns first.
_SPELLING = [
    ("tsch", "ch"),
    ("dzh", "j"),
    ("zh", "j"),
    ("sch", "sh"),
    ("kh", "h"),
    ("ph", "f"),
    ("ck", "k"),
    ("ou", "u"),
    ("ue", "u"),
    ("oe", "o"),
    ("ae", "a"),
    ("oy", "u"),
    ("oo", "u"),
    ("ee", "i"),
    ("q", "k"),
    ("w", "v"),
    ("y", "i"),
    ("j", "i"),
]
_DOUBLE = re.compile(r"(.)\1+")


@dataclass(frozen=True, slots=True)
class Normalised:
    """A name ready for comparison: canonical tokens, and whether to compare skeletons."""

    tokens: tuple[str, ...]
    abjad: bool
    # Before the canonical spelling: what Verification of Payee calls the same name.
    plain: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    @property
    def skeleton(self) -> str:
        return " ".join(skeleton_tokens(self.tokens))


def _drop_legal_forms(tokens: list[str]) -> list[str]:
    if len(tokens) <= 1:
        return tokens  # a name that is only "Holding AG" keeps its words
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for phrase in _LEGAL_PHRASES:
            if tuple(tokens[i : i + len(phrase)]) == phrase:
                i += len(phrase)
                break
        else:
            # A run of one-letter tokens ("s a", "l l c", "b v") read as one word.
            j = i
            while j < len(tokens) and len(tokens[j]) == 1:
                j += 1
            if j - i >= 2 and "".join(tokens[i:j]) in LEGAL_FORMS:
                i = j
                continue
            if tokens[i] not in LEGAL_FORMS:
                out.append(tokens[i])
            i += 1
    return out or tokens


@lru_cache(maxsize=200_000)
def canonical_token(token: str) -> str:
    """One token's canonical spelling: transliteration variants made equal."""
    for old, new in _SPELLING:
        token = token.replace(old, new)
    return _DOUBLE.sub(r"\1", token)


def _skeleton(token: str) -> str:
    bare = _VOWELS.sub("", token)
    if len(bare) > 2 and bare.endswith("h"):
        bare = bare[:-1]  # a final ta marbuta, written "h" ("Usamah", "Fatimah")
    return bare or token[:1]


def skeleton_tokens(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """The consonants of each token: how an abjad writes a name ("mohamed" -> "mhmd")."""
    return tuple(_skeleton(t) for t in tokens)


@lru_cache(maxsize=200_000)
def normalise(name: str) -> Normalised:
    """The canonical tokens of a name (see the module's docstring for the steps)."""
    name = unicodedata.normalize("NFKC", name or "")[:500]
    abjad = bool(_ABJAD.search(name))
    ascii_name = anyascii(name).lower()
    ascii_name = _APOSTROPHES.sub("", ascii_name)
    tokens = [t for t in _NOT_ALNUM.split(ascii_name) if t]
    tokens = _drop_legal_forms(tokens)
    return Normalised(
        tokens=tuple(canonical_token(t) for t in tokens), abjad=abjad, plain=tuple(tokens)
    )


def token_score(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """0..100 for two canonical token lists (see the module's docstring)."""
    if not a or not b:
        return 0.0
    sort_score = fuzz.token_sort_ratio(" ".join(a), " ".join(b))
    # Words split or joined differently ("Nasr Allah", "Nasrallah"; "Abd al Rahman").
    joined = fuzz.ratio("".join(a), "".join(b))
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    remaining = list(long)
    total = 0.0
    weight = 0
    ratio = fuzz.ratio
    for token in sorted(short, key=len, reverse=True):
        if token in remaining:
            remaining.remove(token)
            best = 100.0
        else:
            scores = [ratio(token, other) for other in remaining]
            best = max(scores)
            remaining.pop(scores.index(best))
        total += best * len(token)
        weight += len(token)
    aligned = total / weight
    if len(short) == 1:
        aligned *= 1 / len(long)  # one word is only its share of a longer name
    else:
        missing = sum(1 for token in remaining if token not in PARTICLES)
        aligned -= MISSING_TOKEN_PENALTY * missing
    return round(max(sort_score, joined, aligned), 1)


def compared(a: Normalised, b: Normalised) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The token lists to compare: skeletons when either name was written in an abjad."""
    if a.abjad or b.abjad:
        return skeleton_tokens(a.tokens), skeleton_tokens(b.tokens)
    return a.tokens, b.tokens


def score(a: str, b: str) -> float:
    """How alike two names are, 0..100, after normalisation."""
    return token_score(*compared(normalise(a), normalise(b)))


# German umlauts written out are the same letters ("Mueller" is how "Müller" is typed).
_UMLAUTS = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)


def _same_words(given: str, holder: str, a: Normalised, b: Normalised) -> bool:
    if sorted(a.plain) == sorted(b.plain):
        return True
    if not any(ord(char) in _UMLAUTS for char in given + holder):
        return False
    written_out = (normalise(given.translate(_UMLAUTS)), normalise(holder.translate(_UMLAUTS)))
    return sorted(written_out[0].plain) == sorted(written_out[1].plain)


def verify_payee(given: str, holder: str) -> tuple[str, str | None]:
    """("MTCH"|"CMTC"|"NMTC", the holder's name with CMTC only) for a name given with an IBAN."""
    a, b = normalise(given), normalise(holder)
    if not a.tokens or not b.tokens:
        return "NMTC", None
    if _same_words(given, holder, a, b):
        return "MTCH", None
    value = token_score(*compared(a, b))
    if value >= CLOSE_MATCH_THRESHOLD:
        return "CMTC", holder
    return "NMTC", None
