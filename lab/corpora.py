"""English training text beyond one book, for the learned codecs: the GNU Collaborative International
Dictionary of English (Debian `dict-gcide`, Webster 1913 + WordNet 1.5 + later edits, GPL), WordNet 3.0's
glosses (Debian `wordnet-base`, WordNet licence) and the Python 3.11 documentation's reStructuredText sources
(Debian `python3.11-doc`, PSF licence: modern technical English), all three installed by `make corpora`,
mixed with the train splits of the registered text datasets.

Held out, never in a mix: every Canterbury file, bible's last 10 % and TinyStories' last 10 % (the splits in
`lab.data`). The dictionary quotes English literature (Shakespeare and Milton often), so `overlap` measures
how many of a test text's k-byte strings occur anywhere in the mix, and reports say it beside each result.

Package files are looked for under each root of $LAB_PKG_ROOT (colon-separated; a folder a .deb was
unpacked into with `dpkg -x`), then under /."""
from __future__ import annotations

import gzip
import hashlib
import os
import re
from pathlib import Path

from lab import data
from lab.data import DataError

PACKAGES = {
    "gcide": ("dict-gcide", ("usr/share/dictd/gcide.dict.dz",)),
    "wordnet": ("wordnet-base", tuple(f"usr/share/wordnet/data.{p}" for p in ("noun", "verb", "adj", "adv"))),
    "python-docs": ("python3.11-doc", ("usr/share/doc/python3.11/html/_sources/**/*.rst.txt",)),
}
# name -> ((part, weight), ...): a part is a package corpus or "dataset/split"; weight = copies in the mix
MIXES = {
    "english": (("gcide", 1), ("wordnet", 1), ("python-docs", 1), ("tinystories/train", 1),
                ("canterbury-large/train", 2)),
    "english-v1": (("gcide", 1), ("wordnet", 1), ("tinystories/train", 1), ("canterbury-large/train", 3)),
    "bible": (("canterbury-large/train", 1),),
}
HELD_OUT = (("canterbury", "alice29.txt"), ("canterbury", "lcet10.txt"), ("canterbury", "asyoulik.txt"),
            ("canterbury", "plrabn12.txt"), ("canterbury-large", "test"), ("tinystories", "test"))
_EDITORIAL = re.compile(rb"^\s*\[(?:1913 Webster|WordNet 1\.5|PJC|Century Dict\.|Webster 1913 Suppl\.|[A-Z]{2,4})"
                        rb"(?:\s*[^\]\n]{0,40})?\]\s*$", re.M)


def _roots() -> list[Path]:
    return [Path(r) for r in os.environ.get("LAB_PKG_ROOT", "").split(":") if r] + [Path("/")]


def package_files(name: str) -> list[Path]:
    """The installed files of a package corpus; DataError naming the Debian package when missing."""
    if name not in PACKAGES:
        raise DataError(f"no package corpus {name!r} ({', '.join(PACKAGES)})")
    pkg, rels = PACKAGES[name]
    for root in _roots():   # the first root where every entry (a path or a glob) finds a file
        found = [sorted(root.glob(r)) if "*" in r else [root / r] if (root / r).is_file() else [] for r in rels]
        if all(found):
            return [p for ps in found for p in ps]
    raise DataError(f"corpus {name!r} needs the Debian package {pkg} (`make corpora` installs it; "
                    f"or unpack its .deb with dpkg -x into a folder named in LAB_PKG_ROOT)")


def gcide() -> bytes:
    """The dictionary as text: entries from the first letter on (the licence preamble dropped), the
    editorial source tags ('[1913 Webster]' lines) removed and the 3-space indent of entry bodies undone."""
    raw = gzip.decompress(package_files("gcide")[0].read_bytes())
    start = raw.find(b"\nA \\")
    body = raw[start + 1 if start >= 0 else 0:]
    body = _EDITORIAL.sub(b"", body)
    body = re.sub(rb"\n{3,}", b"\n\n", body)
    return re.sub(rb"(?m)^   ", b"", body)


def wordnet() -> bytes:
    """WordNet 3.0's synsets as 'word, synonym: gloss' lines (nouns, verbs, adjectives, adverbs)."""
    out = []
    for p in package_files("wordnet"):
        for line in p.read_bytes().split(b"\n"):
            if not line or line.startswith(b"  ") or b" | " not in line:
                continue
            head, gloss = line.split(b" | ", 1)
            f = head.split(b" ")
            n = int(f[3], 16)
            words = [f[4 + 2 * i].replace(b"_", b" ") for i in range(n)]
            words = [re.sub(rb"\(\w+\)$", b"", w) for w in words]
            out.append(b", ".join(words) + b": " + gloss.strip() + b"\n")
    return b"".join(out)


def python_docs() -> bytes:
    """The Python documentation's reStructuredText sources, file after file in path order."""
    return b"\n".join(p.read_bytes() for p in package_files("python-docs"))


_READERS = {"gcide": gcide, "wordnet": wordnet, "python-docs": python_docs}


def part(name: str) -> bytes:
    """A mix part's bytes: a package corpus, or 'dataset/split' of lab.data."""
    if name in PACKAGES:
        return _READERS[name]()
    ds, split = name.split("/", 1)
    return data.read_split(ds, split)


def mix(name: str = "english", select_bytes: int = 0) -> tuple[bytes, bytes, list[dict]]:
    """(training bytes, selection bytes, composition). The selection bytes (for early stopping) are the last
    select_bytes // n of each of the n distinct parts, cut off before the parts are repeated and joined, so
    they are never trained on; the held-out test texts are in no part."""
    if name not in MIXES:
        raise DataError(f"no training mix {name!r} ({', '.join(MIXES)})")
    parts, comp = [], []
    sel = []
    cut = select_bytes // len(MIXES[name]) if select_bytes else 0
    for pname, weight in MIXES[name]:
        b = part(pname)
        if cut:
            b, s = b[:-cut], b[-cut:]
            sel.append(s)
        parts += [b] * weight
        comp.append({"part": pname, "bytes": len(b), "copies": weight, "sha256": hashlib.sha256(b).hexdigest()})
    return b"\n\n".join(parts), b"\n\n".join(sel), comp


def held_out() -> dict[str, bytes]:
    """The texts no mix contains, by name."""
    out = {}
    for ds, f in HELD_OUT:
        out[f if ds == "canterbury" else f"{ds}/{f}"] = (data.read_split(ds, f) if f in data.get(ds).splits
                                                          else data.path(ds, f).read_bytes())
    return out


_P = 0x100000001B3       # FNV-1a's 64-bit prime


def _kgram_hashes(b: bytes, k: int):
    import numpy as np

    a = np.frombuffer(b, np.uint8).astype(np.uint64)
    n = len(a) - k + 1
    if n <= 0:
        return np.zeros(0, np.uint64)
    h = np.zeros(n, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * np.uint64(_P) + a[j:j + n] + np.uint64(1)
    return h


class Overlap:
    """How much of a text a training mix has already seen: the fraction of the text's positions that begin
    a k-byte string occurring anywhere in the mix (64-bit hashes; a collision can only overstate it)."""

    def __init__(self, train: bytes, k: int = 32):
        import numpy as np

        self.k = k
        self.seen = np.unique(_kgram_hashes(train, k))

    def __call__(self, text: bytes) -> float:
        import numpy as np

        h = _kgram_hashes(text, self.k)
        if not len(h):
            return 0.0
        i = np.searchsorted(self.seen, h).clip(0, len(self.seen) - 1)
        return float((self.seen[i] == h).mean())
