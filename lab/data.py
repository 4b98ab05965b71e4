"""Dataset registry: name -> files, sha256, canonical URL, licence; locate or fetch.

Lookup order for a dataset NAME: ``$LAB_DATA/NAME``, ``data/NAME`` (project root), ``../shared/data/NAME``,
then a download from the canonical source (verified by sha256) into ``data/NAME``.
"""
from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from lab import DataError

ROOT = Path(__file__).resolve().parent.parent

_ZELEX = "https://raw.githubusercontent.com/Zelex/images/0b8a89db599a384124fb991b85d40cfd63c73d58"
_AELG = "https://raw.githubusercontent.com/aelg/TSBK08/1dda442b4e0cc4d379a3c8a6c1c863164bd3eff9/infiles"


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    licence: str
    files: dict[str, str]            # file name -> sha256
    url: str                         # base URL; file URL = url + "/" + file
    splits: dict[str, tuple] = field(default_factory=dict)  # split -> file list or (file, start, stop)

    def file_url(self, fname: str) -> str:
        return f"{self.url}/{fname}"


def _sums(text: str) -> dict[str, str]:
    out = {}
    for line in text.strip().splitlines():
        digest, name = line.split()
        out[name] = digest
    return out


REGISTRY: dict[str, Dataset] = {}


def register(ds: Dataset) -> Dataset:
    REGISTRY[ds.name] = ds
    return ds


register(Dataset(
    name="kodak",
    description="Kodak lossless true-colour suite: 24 PNG, 768x512 / 512x768 RGB",
    licence="released by Eastman Kodak for unrestricted use",
    url=f"{_ZELEX}/kodak",
    files=_sums("""
6b4fbe6f3e8e0e20150d5b0c32248bf072e22b5989d415f96f796c5b7004a70f  kodim01.png
1788370471429d992750a09caf6702ac74e56962447de02520d4b161738c0369  kodim02.png
b9c800ee568f0b18c983817df08d9f7f24a7ddb3abfdc31bde9234c4fde83137  kodim03.png
0c60c62599ad33fd78b29c36013fbe4120946f6c327c0ef0ec6983297fb48d23  kodim04.png
ccf694ceb6bbf431e0009ed0d5573a8ff0915095b69ddfb527b91d8325897f5e  kodim05.png
f4212cc927d1d579c712843cf8320c7eccb571e5ea80456022ffe99d67e9cd5d  kodim06.png
7cdd6d63ae0a245f6f9d983d740e11c6808c2efc24f8351aad9b5f676c27b55a  kodim07.png
5a6a089bdb47605287c00d89ebf2a5312981eb998c94b5853d917c93a9066cdb  kodim08.png
4d8d801592aeaf446978bbd1c83b76c498242d0f684769311a4e7248289500bf  kodim09.png
7aca487dc83db732a5690b7affe8558e9dadf5bb44a4589ba2b607480a07228b  kodim10.png
c7c02bd6e942d1181518e3ce2d97cf0451e4494a5e9d6ddee276940e4875d746  kodim11.png
df571f5e66d1aefd764ea77855e81e3be61528c34962a0fd1d50557502162c1e  kodim12.png
797949ce1152ef157ff0a1231c95cb8ed7641615e0b0f5f77f851a44aee19e8d  kodim13.png
08a1898d5702f32e7d9f94a94651d74a62cb9325475775a558b388c8d98f1846  kodim14.png
416c475f39b0eb9203ce7f77d2af8824f5bffc1a86a4605865017f04c41639b9  kodim15.png
5d03303693decdf7a1e1e930b5ca6684283aa80a9e7d8d6a842a74fa5f790640  kodim16.png
19d90e98e5835efae20a6e17e22e5ac6814ee2c8efb32d188ea4359abaf9f5bd  kodim17.png
83df267dfec61e9b9d3756c422502160b2fab595650c73a8b12940540ad09ec5  kodim18.png
86560efe85a13413b228ef7e42dde0d439b25a94fb8e2d6fb1dc1631cf48853b  kodim19.png
1ae187d92b3a4483b6717f7fd08592846ffdfc340c6424f6756627a27f3d8ea7  kodim20.png
26e193795108c4b5ec47206ae4ff07a353d2492947f7a7ae8d380e042b74027b  kodim21.png
627b76fccf714b4ddffb739b2eb63ba2817cf5b5a8e222079542dcf2cfdda939  kodim22.png
85c67d7ea758cb0604fb6980ab0c65091a2eefa7b3b50cbb1bc702a60206dfe5  kodim23.png
9f1c26df52217bd49f998a720a2ffeba41a535cf826f4ae32e355fb2b0bbc0fe  kodim24.png
"""),
))

register(Dataset(
    name="photos",
    description="New Image Compression Test Set (Jan 2008): flower_foveon.png 2268x1512, artificial.png 3072x2048",
    licence="free redistribution; origin must not be misrepresented; altered versions marked; no sale",
    url=f"{_ZELEX}/imagecompression.info/rgb8bit",
    files=_sums("""
2ab3a9d345bb01c08c4796f1ab496b563e0783eb6189fbda75713a98dcead4c4  artificial.png
68bf0fd6b5d5de99d3f93bcd1fc4e96627e0b56701a6f9eb54d187fc08c5969e  flower_foveon.png
"""),
))

register(Dataset(
    name="canterbury",
    description="The Canterbury corpus: 11 files, 2,810,784 bytes",
    licence="published by the University of Canterbury for evaluating lossless compression",
    url=f"{_AELG}/cantrbry",
    files=_sums("""
7467306ee0feed4971260f3c87421154a05be571d944e9cb021a5713700c38f0  alice29.txt
eaa3526fe53859f34ecdf255712f9ecf0b2c903451d4755b2edaa2e2599cb0fc  asyoulik.txt
e0cd21cef5b6c4069461e949be100080c3ce887de6f1dd8626c480528efaaf61  cp.html
85d73e354cc50cec76cb5a50537cf8dc035f8cbb8480f9e1cbe2f7d6c23393c7  fields.c
1b0805dfc0ae706b35aac2bb4e15f02485efd24dda5dbd29de7b2f84d1a88c15  grammar.lsp
9af47239ca29dfe20e633f80bbbb9a4cc9783d0803d7b2b5626f42e4c3790420  kennedy.xls
5314ba1dbb03f471df88bec6cd120a938ef60d0fd3511c5c1dce61bf7463245f  lcet10.txt
07e2e0b461af78c7c647cb53dab39de560198e16f799b4516eccf0fbd69f764c  plrabn12.txt
0ec3a75089bb52342813496b17e51377bc9eba3cb519a444d67025354841d650  ptt5
ee5733cd76ecc2f9d8ff156adc3c02a7a851051dcf43a2d56ff4ee4ff606bdb3  sum
c58aeb5d2d1e12751d47e7412b45784405fc30a5671b03d480fa05776e183619  xargs.1
"""),
))

register(Dataset(
    name="canterbury-large",
    description="King James Bible (bible.txt) from the Canterbury large corpus",
    licence="published by the University of Canterbury for evaluating lossless compression",
    url=f"{_AELG}/large",
    files=_sums("4e0a7e8dff7d9c82dbded57305c0ca3cdd3c4ca014db27121782fe9710f4723f  bible.txt"),
    # held-out tail for learned codecs: the last 10% of bible.txt is never trained on
    splits={"train": (("bible.txt", 0, 3642653),), "test": (("bible.txt", 3642653, 4047392),)},
))

register(Dataset(
    name="tinystories",
    description="TinyStories sample (lowercased), 45,522 lines",
    licence="CDLA-Sharing-1.0",
    url="https://raw.githubusercontent.com/Arnoochka/Transformer-Parallelism/911b9e732fbe6d228ba0feacbd6735395f0d279e",
    files=_sums("30c6f2fac206d82e76b80dbbede28f6b5415c8d8571dde6bfd8226ab41744a2c  tinystories.txt"),
    # the last ~10% (from a line start) is held out
    splits={"train": (("tinystories.txt", 0, 3773300),), "test": (("tinystories.txt", 3773300, 4192330),)},
))

register(Dataset(
    name="lab-heldout",
    description="Text SmolLM2 cannot have seen: the lab's own issue texts 2, 3, 4 and 8-14 (written 2026-11, after "
                "the model's release in 2024-11), 118,441 bytes of English with Markdown, kept in the repository; "
                "no codec or model of the lab was trained or tuned on it",
    licence="this repository's (MIT)",
    url="",                          # kept in the repository (data/lab-heldout/); nothing to download
    files=_sums("893ac8c841d04d19e8adea05612f29d6f55d65b179c90296347ec4a3ffcde7e0  lab-issues-2026.txt"),
))

register(Dataset(
    name="lab-tuning",
    description="Where llmzip's online models were chosen (orders, rates, the LM's window), never scored: the lab's "
                "own 2026 text, none of it in lab-heldout: issue texts 26-30 (filed 2026-12), a closing note, and "
                "snapshots of README.md and reports/optical_gpu/README.md (2026-12-05), 125,365 bytes",
    licence="this repository's (MIT)",
    url="",                          # kept in the repository (data/lab-tuning/); nothing to download
    files=_sums("0709f99dccccfa05cae8dffc5c90512c31416132adfe0087f007740d71191945  lab-tuning-2026.txt"),
))

# The optical family's page corpus: whole documents, fixed split. Training never sees a test document:
# alice29.txt and lcet10.txt (English prose), the held-out tails of bible.txt and TinyStories, and the
# lab's own procedural package (code). Entries: (dataset, split name or file name, kind).
PAGE_CORPUS = {
    "train": (("canterbury-large", "train", "text"), ("tinystories", "train", "text"),
              ("canterbury", "asyoulik.txt", "text"), ("canterbury", "plrabn12.txt", "text"),
              ("canterbury", "cp.html", "code"), ("canterbury", "fields.c", "code"),
              ("canterbury", "grammar.lsp", "code"), ("canterbury", "xargs.1", "code"),
              ("lab-source", "train", "code")),
    "test": (("canterbury", "alice29.txt", "text"), ("canterbury", "lcet10.txt", "text"),
             ("canterbury-large", "test", "text"), ("tinystories", "test", "text"), ("lab-source", "test", "code")),
}
LAB_SOURCE_TEST = "procedural"   # lab/procedural/*.py are test documents; the rest of lab/ trains


def page_documents(split: str) -> list[tuple[str, str, str]]:
    """(name, text, kind) of every document of a PAGE_CORPUS split."""
    if split not in PAGE_CORPUS:
        raise DataError(f"the page corpus has no split {split!r} (train, test)")
    out = []
    for ds, part, kind in PAGE_CORPUS[split]:
        if ds == "lab-source":
            for f in sorted((ROOT / "lab").rglob("*.py")):
                if (f.parent.name == LAB_SOURCE_TEST) == (part == "test"):
                    out.append((f"lab/{f.relative_to(ROOT / 'lab')}", f.read_text(), kind))
        elif part in get(ds).splits:
            out.append((f"{ds}/{part}", read_split(ds, part).decode("utf-8", "replace"), kind))
        else:
            out.append((f"{ds}/{part}", path(ds, part).read_text(errors="replace"), kind))
    return out


def get(name: str) -> Dataset:
    try:
        return REGISTRY[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def search_dirs(name: str) -> list[Path]:
    dirs = []
    if os.environ.get("LAB_DATA"):
        dirs.append(Path(os.environ["LAB_DATA"]) / name)
    dirs.append(ROOT / "data" / name)
    dirs.append(ROOT.parent / "shared" / "data" / name)
    return dirs


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def locate(name: str) -> Path | None:
    """The first directory that holds every file of the dataset, or None."""
    ds = get(name)
    for d in search_dirs(name):
        if all((d / f).is_file() for f in ds.files):
            return d
    return None


def fetch(name: str, verify: bool = True, timeout: float = 30.0) -> Path:
    """Locate the dataset or download it into data/NAME; verify sha256 of every file."""
    ds = get(name)
    d = locate(name)
    if d is None:
        if not ds.url:
            raise DataError(f"dataset {name!r} is kept in the repository (data/{name}/) and is missing there")
        d = ROOT / "data" / name
        d.mkdir(parents=True, exist_ok=True)
        for fname, digest in ds.files.items():
            target = d / fname
            if target.is_file() and sha256(target) == digest:
                continue
            tmp = target.with_suffix(target.suffix + ".part")
            try:
                with urllib.request.urlopen(ds.file_url(fname), timeout=timeout) as r, open(tmp, "wb") as f:
                    while chunk := r.read(1 << 20):
                        f.write(chunk)
            except OSError as e:
                tmp.unlink(missing_ok=True)
                raise DataError(f"dataset {name!r} not found locally and download of {fname} failed: {e}") from None
            if sha256(tmp) != digest:
                tmp.unlink(missing_ok=True)
                raise DataError(f"downloaded {fname} has the wrong sha256")
            tmp.replace(target)
        return d
    if verify:
        for fname, digest in ds.files.items():
            if sha256(d / fname) != digest:
                raise DataError(f"{d / fname}: sha256 mismatch (expected {digest[:12]}...)")
    return d


def files(name: str, fetch_missing: bool = True) -> list[Path]:
    """Paths of every file in the dataset (located, or fetched when allowed)."""
    ds = get(name)
    d = locate(name)
    if d is None:
        if not fetch_missing:
            raise DataError(f"dataset {name!r} not found in {', '.join(map(str, search_dirs(name)))}")
        d = fetch(name)
    return [d / f for f in sorted(ds.files)]


def path(name: str, fname: str) -> Path:
    ds = get(name)
    if fname not in ds.files:
        raise DataError(f"dataset {name!r} has no file {fname!r}")
    d = locate(name) or fetch(name)
    return d / fname


def read_split(name: str, split: str) -> bytes:
    """Bytes of a registered split (concatenation of its (file, start, stop) ranges)."""
    ds = get(name)
    if split not in ds.splits:
        raise DataError(f"dataset {name!r} has no split {split!r}")
    out = []
    for fname, start, stop in ds.splits[split]:
        out.append(path(name, fname).read_bytes()[start:stop])
    return b"".join(out)


def load_images(name: str = "kodak", limit: int | None = None):
    """Return (list of (name, HxWx3 uint8 array), source note). Falls back to scikit-image's photos offline."""
    import numpy as np
    from PIL import Image

    try:
        paths = files(name)
        paths = [p for p in paths if p.suffix.lower() == ".png"][:limit]
        out = []
        for p in paths:
            with Image.open(p) as im:
                out.append((p.name, np.asarray(im.convert("RGB"))))
        return out, f"{name} ({len(out)} images, located at {paths[0].parent})"
    except DataError as e:
        from skimage import data as skd

        imgs = [("astronaut", skd.astronaut()), ("coffee", skd.coffee()), ("chelsea", skd.chelsea()),
                ("rocket", skd.rocket())][:limit]
        return imgs, f"FALLBACK: scikit-image sample photos ({e})"


def describe() -> list[dict]:
    rows = []
    for ds in REGISTRY.values():
        d = locate(ds.name)
        rows.append({"name": ds.name, "files": len(ds.files), "location": str(d) if d else "(not found; fetchable)",
                     "description": ds.description, "licence": ds.licence})
    return rows
