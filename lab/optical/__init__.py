"""Optical context compression: documents rendered to pages, encoded into a budget of vision tokens, read back."""
