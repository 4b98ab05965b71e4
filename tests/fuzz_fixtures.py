"""A deliberately broken decoder, to prove that `lab.fuzz` catches what it must (tests/test_fuzz.py)."""
import struct
import time
import zlib

from lab import FormatError
from lab.container import pack
from lab.formats import Target

HEAD = struct.Struct("<I")


def broken_target():
    def decode(blob: bytes):
        if blob in samples:
            return blob
        if blob[:4] != b"BAD!":
            raise FormatError("bad magic")
        kind = zlib.adler32(blob) % 8
        if kind == 0:
            raise KeyError("an exception that is not a FormatError")
        if kind == 1 and zlib.adler32(blob) % 24 == 1:     # (one case in 60: each hang costs a worker restart)
            t0 = time.process_time()             # a hang: spinning on the CPU (the cap is CPU time)
            while time.process_time() - t0 < 60:
                pass
        if kind == 2:
            bytearray(8 << 30)                   # an allocation far beyond the cap
        raise FormatError("rejected")

    samples = [pack(b"BAD!", 1, HEAD, (i,), {"DATA": bytes(range(i, i + 40))}) for i in range(4)]
    return Target(".bad", b"BAD!", 1, HEAD, samples, decode)
