"""The bottom layer: colour, resize, metrics, the paper's facts, paths, atomic writes, hashing and provenance.

Nothing here imports any other part of `srlib`."""
