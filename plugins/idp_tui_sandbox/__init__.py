"""The bundled ``sandbox`` source: a simulated organisation so every pane works without setup."""

from .source import SandboxConfig, SandboxSource

__all__ = ["SandboxConfig", "SandboxSource"]
