"""edgetui: benchmark, watch and rank small language model configurations on edge boards."""

__version__ = "0.1.0"
