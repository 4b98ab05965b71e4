import struct
import zlib

import pytest

from lab import FormatError
from lab.holo import codec as C
from lab.holo import format as F

from conftest import smooth_image


@pytest.fixture(scope="module")
def blobs():
    im = smooth_image(40, 48)
    return [C.encode(im, C.HoloParams(step=10)), C.encode(im, C.HoloParams(mode="vq", clusters=8)),
            C.encode(im, C.HoloParams(mode="residual", clusters=8, basis="klt"))]


def _recrc(b: bytes) -> bytes:
    body = b[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def test_container_roundtrip():
    b = F.pack(3, 2, {"ABCD": b"xyz", "EFGH": b""})
    c = F.unpack(b)
    assert (c.width, c.height, c.sections) == (3, 2, {"ABCD": b"xyz", "EFGH": b""})


@pytest.mark.parametrize("case", ["empty", "magic", "version", "truncated", "bitflip", "dims", "zero_dims",
                                  "trailing"])
def test_malformed_files(blobs, case):
    b = blobs[0]
    bad = {
        "empty": b"",
        "magic": b"JUNK" + b[4:],
        "version": _recrc(b[:4] + bytes([9]) + b[5:]),
        "truncated": b[: len(b) // 2],
        "bitflip": b[:30] + bytes([b[30] ^ 0x10]) + b[31:],
        "dims": _recrc(b[:5] + struct.pack("<II", 1_000_000_000, 5) + b[13:]),
        "zero_dims": _recrc(b[:5] + struct.pack("<II", 0, 0) + b[13:]),
        "trailing": _recrc(b[:-4] + b"\0\0" + b[-4:]),
    }[case]
    with pytest.raises(FormatError) as e:
        C.decode_image(bad)
    assert "\n" not in str(e.value)
    if case == "version":
        assert "version 9" in str(e.value)
