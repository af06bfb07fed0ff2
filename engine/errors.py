"""Errors a user caused: one line naming the field, exit 2 (DESIGN.md, exit codes)."""


class InputError(Exception):
    """Bad input or usage. `str()` is the one-line message shown to the user."""

    exit_code = 2


class RulesetError(InputError):
    """A ruleset that cannot be loaded (bad YAML, schema, missing parent)."""
