"""edgeforge: cross-compilation and packaging for C++ inference software on aarch64 edge boxes."""

__version__ = "0.1.0"
