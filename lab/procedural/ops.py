"""The machine's operators: small frozen dataclasses with their decoding `apply` and the seed's static
cost estimate (used by `explain` beside the real coded bits)."""
from __future__ import annotations

import math
from dataclasses import dataclass

KIND_BITS = math.log2(5)  # the seed's flat choice among five operators
LIT, COPY, REPEAT, TEMPLATE, TRANSFORM = 0, 1, 2, 3, 4     # operator kinds in a program (okind)
KIND_NAMES = ("LITERAL", "COPY", "REPEAT", "TEMPLATE", "TRANSFORM")
MINCOPY = 4                                               # the shortest COPY


@dataclass(frozen=True)
class Literal:
    data: bytes

    def apply(self, out: bytearray, ctx=None) -> None:
        out += self.data

    def estimate_bits(self, ctx=None) -> float:
        return KIND_BITS + 8.0 * len(self.data)

    def __str__(self) -> str:
        return f"LIT[{self.data.decode('latin-1')!r}]"


@dataclass(frozen=True)
class Copy:
    offset: int
    length: int

    def apply(self, out: bytearray, ctx=None) -> None:
        for _ in range(self.length):  # byte by byte: overlapping copies repeat
            out.append(out[-self.offset])

    def estimate_bits(self, ctx=None) -> float:
        pos = (ctx or {}).get("pos", self.offset)
        return KIND_BITS + math.log2(max(2, pos)) + math.log2(max(2, self.length))

    def __str__(self) -> str:
        return f"COPY[{self.offset}:{self.length}]"


@dataclass(frozen=True)
class Repeat:
    period: int
    length: int

    def apply(self, out: bytearray, ctx=None) -> None:
        for _ in range(self.length):
            out.append(out[-self.period])

    def estimate_bits(self, ctx=None) -> float:
        return KIND_BITS + 4.0 + math.log2(max(2, self.length / self.period))

    def __str__(self) -> str:
        return f"REPEAT[{self.period}x{self.length / self.period:.1f}]"


@dataclass(frozen=True)
class Template:
    tid: int
    slot: bytes
    frame: tuple[bytes, bytes] = (b"", b"")

    def apply(self, out: bytearray, ctx=None) -> None:
        a, b = self.frame
        out += a + self.slot + b

    def estimate_bits(self, ctx=None) -> float:
        n = (ctx or {}).get("n_templates", 256)
        return KIND_BITS + math.log2(max(2, n)) + 8.0 * len(self.slot)

    def __str__(self) -> str:
        a, b = self.frame
        return f"TEMPLATE#{self.tid}[{a.decode('latin-1')!r}+{self.slot.decode('latin-1')!r}+{b.decode('latin-1')!r}]"


@dataclass(frozen=True)
class Transform:
    ref: int
    rule: int
    word: bytes = b""
    rule_text: str = ""

    def apply(self, out: bytearray, ctx=None) -> None:
        out += self.word

    def estimate_bits(self, ctx=None) -> float:
        return KIND_BITS + 6.0 + 5.0

    def __str__(self) -> str:
        return f"TRANSFORM[recent#{self.ref} {self.rule_text} -> {self.word.decode('latin-1')!r}]"
