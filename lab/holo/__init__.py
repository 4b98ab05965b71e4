"""The holographic image codec (.holo): patch PCA/KLT, vector quantisation, a transform codec, Df."""
from lab.holo.codec import HoloParams, decode, decode_image, encode, info

__all__ = ["HoloParams", "encode", "decode", "decode_image", "info"]
