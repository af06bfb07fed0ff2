"""Errors a user caused: one line naming the field, exit 2 (DESIGN.md, exit codes)."""


class InputError(Exception):
    """Bad input or usage. `str()` is the one-line message shown to the user."""

    exit_code = 2


class RulesetError(InputError):
    """A ruleset that cannot be loaded (bad YAML, schema, missing parent)."""


class MalformedInput(InputError):
    """Input that is not JSON (or YAML) at all, as opposed to well-formed input with a wrong
    field: the service answers 400 for it, 422 for the other."""


class CheckFailed(InputError):
    """A check that ran and did not hold (exit 1, as `log verify` names a broken row)."""

    exit_code = 1
