"""zhunru (准入): a plugin-based rules engine for community work admission (社区工作事项准入)."""

__version__ = "0.1.0"
