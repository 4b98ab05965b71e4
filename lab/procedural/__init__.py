"""The procedural compression machine: text as a program of LITERAL / COPY / REPEAT / TEMPLATE /
TRANSFORM operations chosen by coded cost, with a real range-coded bitstream (.proc)."""
from lab.procedural.machine import MachineParams, compress, decompress, explain

__all__ = ["MachineParams", "compress", "decompress", "explain"]
