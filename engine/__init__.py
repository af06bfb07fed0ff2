"""zhunru (准入): a plugin-based rules engine for community work admission (社区工作事项准入).

The application object is `zhunru.Zhunru` (zhunru/app.py). Folders by concern: rulebook/
(rulesets as data), decide/ (the procedure), log/ (the decision log), office/ (the district
office's work), authoring/ (tools for ruleset authors)."""

__version__ = "0.1.0"
__all__ = ["Zhunru", "__version__"]


def __getattr__(name: str):
    # Lazy: `import zhunru` stays cheap for the fast certificate check.
    if name == "Zhunru":
        from zhunru.app import Zhunru

        return Zhunru
    raise AttributeError(f"module 'zhunru' has no attribute {name!r}")
