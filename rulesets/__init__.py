"""Ruleset data shipped with zhunru: `<city>/<version>.yaml`, `<city>/sources/`, `<city>/cases/`."""
