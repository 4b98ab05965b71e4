"""Entropy coding used by every codec.

- `rangecoder`: an adaptive binary range coder (numba kernels) with two-rate probability counters, plus
  binarisations (bypass bits, adaptive Exp-Golomb, binary trees). A single routine per codec runs in
  encode *or* decode mode, so encoder and decoder cannot drift apart.
- `static`: arithmetic coding with static CDFs through torchac (probabilities quantised to integer CDFs).
"""
from lab.entropy.rangecoder import decode_symbols, encode_symbols

__all__ = ["encode_symbols", "decode_symbols"]
