"""The broken rulesets are fixtures for tests/test_validate.py: the cases beside them (there so
that "no cases" is not a second defect) are not run as tests by zhunru's pytest plugin."""

collect_ignore_glob = ["*/*/cases/*.yaml"]
