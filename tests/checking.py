"""Assertions shared by the tests of every chapter's self-checks."""

import helpers.exercises


def assert_not_yet(result, *fragments):
    """The check failed, with a message (no exception) that mentions every fragment."""
    assert isinstance(result, helpers.exercises.CheckResult)
    assert not result
    text = " ".join(repr(result).split())  # the repr is wrapped to fit a notebook's width
    assert text.startswith("Not yet: ")
    for fragment in fragments:
        assert fragment in text, text


def assert_correct(result):
    assert isinstance(result, helpers.exercises.CheckResult)
    assert result, repr(result)
    assert repr(result).startswith("Correct! ")


def assert_checks_listed(module):
    """Every check of a chapter module is sorted in its __all__ and reachable by name."""
    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        assert name.startswith("check_")
        assert getattr(helpers.exercises, name) is getattr(module, name)
        assert name in dir(helpers.exercises)
