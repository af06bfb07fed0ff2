"""Rulesets as data: the format, reading and checking files, the compiled book, the cache."""
