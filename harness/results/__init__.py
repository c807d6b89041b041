"""Typed records of everything written to disk, and the one store that reads and writes them."""
