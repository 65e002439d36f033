"""aisim: an agent-based simulation of the AI industry's financing web (Mesa + array kernels)."""

__all__ = ["__version__"]
__version__ = "0.1.0"
