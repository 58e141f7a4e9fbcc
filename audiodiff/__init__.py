"""audiodiff: hierarchical music generation (structure diffusion -> acoustic diffusion -> codec)."""

__version__ = "0.1.0"
