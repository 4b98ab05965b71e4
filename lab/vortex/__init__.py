"""Vortex: a byte-level compressive transformer driving arithmetic coding (.vtx)."""
