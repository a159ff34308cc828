"""Random values for the benchmark databases: prose, names, timestamps, money, ids, JSON.

Deterministic for a seed, so a database regenerated on another machine dumps to the same bytes.
Prose is drawn from a Zipf-weighted vocabulary of made-up words (compresses about like real text,
not 40:1 like pgbench's padding); ids and hashes add incompressible bytes.
"""

from __future__ import annotations

import functools
import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


VOCABULARY_SIZE = 6000
ZIPF_EXPONENT = 1.05
_ONSETS = _words("b c d f g h j k l m n p r s t v w z br ch cr dr fl gr kl pr sh st th tr")
_VOWELS = _words("a e i o u a e i o ai ea ou io")
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "rk"]
FIRST_NAMES = _words(
    "Anna Bruno Chloé Dmitri Elif Fatima Gabriel Hana Ines Jonas Kenji Léa Mateo Nadia Oskar "
    "Priya Quentin Rosa Søren Tomás Uma Viktor Wen Ximena Yusuf Zoë José Mónica Jürgen Ørjan"
)
LAST_NAMES = _words(
    "Müller García Rossi Kowalski Nakamura Okafor Silva Dubois Jensen Novák Popescu Çelik "
    "Andersson Horvat Ivanova Kim Larsen Moreau Nguyen O'Brien Pereira Schmidt Tanaka Weiß"
)
DOMAINS = _words("example.com mail.test corp.example shop.test example.org")
COUNTRIES = _words("US DE FR GB ES IT NL PL SE BR IN JP CA AU MX TR NG KR PT CZ")
CITIES = _words("Berlin Lyon Porto Kraków Osaka Austin Leeds Gdańsk Malmö Recife Pune Puebla")
ORDER_STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "refunded")
EVENT_KINDS = ("login", "logout", "page_view", "api_call", "purchase", "error", "export")
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148",
    "python-requests/2.32.3",
    "curl/8.5.0",
)
EPOCH = datetime(2019, 1, 1, tzinfo=UTC)
HISTORY_DAYS = 6 * 365  # days the timestamps cover
_T = TypeVar("_T")


@functools.cache
def _days() -> list[str]:
    return [(EPOCH + timedelta(days=day)).strftime("%Y-%m-%d") for day in range(HISTORY_DAYS)]


@functools.cache
def _vocabulary() -> tuple[list[str], list[float]]:
    """The made-up words, most frequent first, and their cumulative Zipf weights."""
    rng = random.Random(0)  # noqa: S311 - test data, not secrets
    words: set[str] = set()
    while len(words) < VOCABULARY_SIZE:
        syllables = rng.choice((1, 2, 2, 3, 3, 4))
        words.add(
            "".join(
                rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                for _ in range(syllables)
            )
        )
    ordered = sorted(words, key=lambda word: (len(word), word))
    weights: list[float] = []
    total = 0.0
    for rank in range(1, len(ordered) + 1):
        total += 1.0 / rank**ZIPF_EXPONENT
        weights.append(total)
    return ordered, weights


@dataclass
class Source:
    """Random values for one batch of rows; the same seed gives the same rows."""

    seed: int
    rng: random.Random = field(init=False)
    words: list[str] = field(init=False)
    weights: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - test data
        self.words, self.weights = _vocabulary()

    def integer(self, low: int, high: int) -> int:
        """A uniform integer in low..high (random.randint is several times slower)."""
        return low + int(self.rng.random() * (high - low + 1))

    def pick(self, items: Sequence[_T]) -> _T:
        """One of `items`, uniformly."""
        return items[int(self.rng.random() * len(items))]

    def prose(self, low: int, high: int) -> str:
        """Sentences of `low`..`high` words."""
        count = self.integer(low, high)
        picked = self.rng.choices(self.words, cum_weights=self.weights, k=count)
        out: list[str] = []
        for start in range(0, count, 12):
            sentence = picked[start : start + 12]
            out.append(sentence[0].capitalize() + " " + " ".join(sentence[1:]) + ".")
        return " ".join(out)

    def few(self, low: int, high: int) -> list[str]:
        """A few common words."""
        return self.rng.choices(self.words[:400], k=self.integer(low, high))

    def moment(self) -> str:
        """A timestamptz literal in the last years."""
        seconds = int(self.rng.random() * 86400)
        hour, rest = divmod(seconds, 3600)
        return (
            f"{self.pick(_days())} {hour:02d}:{rest // 60:02d}:{rest % 60:02d}"
            f".{int(self.rng.random() * 1e6):06d}+00"
        )

    def money(self, high: float) -> str:
        """A numeric(12,2) literal."""
        return f"{self.rng.random() * high:.2f}"

    def hex(self, bits: int) -> str:
        """Random hex digits (incompressible ids and hashes)."""
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def uuid(self) -> str:
        """A random version-4 UUID."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def jsonb(value: object) -> str:
    """A jsonb value as COPY text (backslashes doubled)."""
    return json.dumps(value, ensure_ascii=False).replace("\\", "\\\\")
