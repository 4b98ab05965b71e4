"""The holographic image codec (.holo): patch PCA/KLT, vector quantisation, a transform codec, Df."""
__all__ = ['HoloParams', 'encode', 'decode', 'decode_image', 'info']


def __getattr__(name):
    """The codec's names load its kernels on first use (so `lab --help` and the CLI stay quick)."""
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("lab.holo.codec"), name)
    raise AttributeError(name)
