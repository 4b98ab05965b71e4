"""The compression lab: find structure, encode against it into a real bitstream, measure it."""

__version__ = "0.1.0"


class FormatError(ValueError):
    """A compressed file or stream is malformed (bad magic, version, length, checksum, ...)."""


class DataError(RuntimeError):
    """A dataset could not be located or fetched."""


class UsageError(ValueError):
    """Bad user input detected by a command (out-of-range options, a bad output path, ...)."""


__all__ = ["FormatError", "DataError", "UsageError", "__version__"]
