"""srlib: a reproducible replication of MLRN (attention + multi-scale feature fusion super-resolution)."""

__version__ = "0.1.0"
