"""The procedural compression machine: text as a program of LITERAL / COPY / REPEAT / TEMPLATE /
TRANSFORM operations chosen by coded cost, with a real range-coded bitstream (.proc)."""
__all__ = ['MachineParams', 'compress', 'decompress', 'explain']


def __getattr__(name):
    """The codec's names load its kernels on first use (so `lab --help` and the CLI stay quick)."""
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("lab.procedural.machine"), name)
    raise AttributeError(name)
