"""Tools for ruleset authors: diff, scaffold, case runner, pytest plugin."""
