"""Entropy coding used by every codec.

- `rangecoder`: an adaptive binary range coder (numba kernels) with two-rate probability counters, plus
  binarisations (bypass bits, adaptive Exp-Golomb, binary trees). A single routine per codec runs in
  encode *or* decode mode, so encoder and decoder cannot drift apart.
- `cm`: a bitwise context-mixing byte model (numba); `cm_native`: its hot loops in C, bit-exact.
- `static`: arithmetic coding with static CDFs through torchac (probabilities quantised to integer CDFs).

Importing the package loads none of them (a `lab proc decompress` process needs only `cm_native`).
"""
__all__ = ["encode_symbols", "decode_symbols"]


def __getattr__(name):
    if name in __all__:
        from lab.entropy import rangecoder

        return getattr(rangecoder, name)
    raise AttributeError(f"module 'lab.entropy' has no attribute {name!r}")
