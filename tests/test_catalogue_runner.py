"""The shared bad-input catalogue runner (tests/_catalogue.py) fails on a case that is wrong."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from _catalogue import advice_test, check_case, check_cli_case, unique_ids_test


def _raises(exc: BaseException) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        raise exc

    return call


def _deprecated_then_raises() -> Any:
    warnings.warn("old name", DeprecationWarning, stacklevel=1)
    raise ValueError("pass num_classes=")


GOOD = [("good", _raises(ValueError("pass fs= (Hz)")), ValueError, r"pass fs=")]


def test_a_matching_case_passes() -> None:
    check_case(*GOOD[0][1:])


def test_a_call_that_does_not_raise_fails() -> None:
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        check_case(lambda: None, ValueError, "pass fs=")


def test_an_advice_that_does_not_match_fails() -> None:
    with pytest.raises(AssertionError, match="Regex pattern did not match"):
        check_case(_raises(ValueError("something else")), ValueError, "pass fs=")


def test_another_exception_type_propagates() -> None:
    with pytest.raises(TypeError):
        check_case(_raises(TypeError("pass fs=")), ValueError, "pass fs=")


def test_the_generated_test_is_parametrized_by_the_case_ids() -> None:
    test = advice_test([*GOOD, ("silent", lambda: None, ValueError, "x")])
    (mark,) = [m for m in test.pytestmark if m.name == "parametrize"]
    assert mark.kwargs["ids"] == ["good", "silent"]
    call, error, phrase = mark.args[1][1]
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        test(call, error, phrase)


def test_the_generated_test_passes_tmp_path_and_runs_the_guard(tmp_path: Path) -> None:
    @contextmanager
    def nothing_written(d: Path) -> Iterator[None]:
        yield
        assert not list(d.iterdir()), "written"

    def writes_then_raises(d: Path) -> Any:
        (d / "f").write_text("x")
        raise ValueError("pass out_dir=")

    test = advice_test([], tmp_path=True, guard=nothing_written)
    test(tmp_path, _raises(ValueError("pass out_dir=")), ValueError, "out_dir=")
    with pytest.raises(AssertionError, match="written"):
        test(tmp_path, writes_then_raises, ValueError, "out_dir=")


def test_filterwarnings_are_marks_of_the_generated_test() -> None:
    test = advice_test([], filterwarnings=["ignore::DeprecationWarning"])
    marks = [m.args for m in test.pytestmark if m.name == "filterwarnings"]
    assert marks == [("ignore::DeprecationWarning",)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        with pytest.raises(DeprecationWarning):  # without the mark the warning is an error
            test(_deprecated_then_raises, ValueError, "num_classes=")


def test_repeated_ids_and_a_short_catalogue_fail() -> None:
    unique_ids_test(GOOD, [("a", 1), ("b", 2)], at_least=1)()
    with pytest.raises(AssertionError, match=r"more than once: \['good'\]"):
        unique_ids_test([*GOOD, *GOOD])()
    with pytest.raises(AssertionError, match=r"more than once: \['a'\]"):
        unique_ids_test(GOOD, [("a", 1), ("a", 2)])()
    with pytest.raises(AssertionError, match="fewer than 2"):
        unique_ids_test(GOOD, at_least=2)()


def _cli(code: int, message: str) -> Callable[[list[str]], int]:
    def main(argv: list[str]) -> int:
        sys.stderr.write(message)
        return code

    return main


@pytest.mark.parametrize(
    ("code", "message", "error"),
    [
        (1, "error: pass --fs HZ\n", "exit status 1, expected 2"),
        (2, "error: give a sampling rate\n", "not found in stderr"),
        (2, "Traceback (most recent call last):\nerror: pass --fs HZ\n", "a traceback"),
        (2, "error: pass --fs HZ (or fs=)\n", r"Python-only advice \['fs='\]"),
    ],
    ids=["exit-status", "phrase", "traceback", "python-advice"],
)
def test_a_wrong_cli_case_fails(
    code: int, message: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    check_cli_case(_cli(2, "error: pass --fs HZ\n"), [], 2, "--fs HZ", capsys, forbidden=["fs="])
    with pytest.raises(AssertionError, match=error):
        check_cli_case(_cli(code, message), [], 2, "--fs HZ", capsys, forbidden=["fs="])
