"""The one runner of the bad-input catalogues (``tests/test_bad_inputs*.py``).

A catalogue is a list of cases ``(id, call, exception type, phrase of the advice)``: ``call``
must raise the exception type with a message in which the regular expression ``phrase`` is
found (``re.search``). A module turns its catalogue into tests with two lines, under the test
names it chooses (pytest names a test by the module attribute it is bound to)::

    test_catalogue_ids_are_unique = unique_ids_test(BAD, at_least=30)
    test_bad_input_fails_with_advice = advice_test(BAD)

Calls that take the test's temporary directory (``call(tmp_path)``) use
``advice_test(BAD, tmp_path=True)``; ``guard`` wraps each call in a context manager that
checks what a failed call must leave behind (nothing written, nothing registered).
Command-line catalogues (argv, exit status, phrase of stderr) check each case with
:func:`check_cli_case`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

__all__ = ["advice_test", "case_ids", "check_case", "check_cli_case", "unique_ids_test"]

Case = tuple[str, Callable[..., Any], type[BaseException], str]
Guard = Callable[..., AbstractContextManager[object]]


def case_ids(cases: Sequence[tuple[Any, ...]]) -> list[str]:
    """The ids (first items) of a catalogue's cases, in order."""
    return [case[0] for case in cases]


def check_case(
    call: Callable[..., Any], error: type[BaseException], phrase: str, *args: Any
) -> None:
    """Fail unless ``call(*args)`` raises ``error`` with a message matching ``phrase``."""
    with pytest.raises(error, match=phrase):
        call(*args)


def unique_ids_test(
    *catalogues: Sequence[tuple[Any, ...]], at_least: int = 0
) -> Callable[[], None]:
    """A test that each catalogue names its cases once and the first has ``at_least`` cases."""

    def test() -> None:
        for cases in catalogues:
            ids = case_ids(cases)
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            assert not repeated, f"catalogue ids used more than once: {repeated}"
        count = len(catalogues[0])
        assert count >= at_least, f"the catalogue has {count} cases, fewer than {at_least}"

    return test


def advice_test(
    cases: Sequence[Case],
    *,
    tmp_path: bool = False,
    filterwarnings: Sequence[str] = (),
    guard: Guard | None = None,
) -> Callable[..., None]:
    """The test, parametrized by the cases' ids, that each case fails with its advice.

    ``tmp_path``: each call gets the test's temporary directory (``call(tmp_path)``).
    ``filterwarnings``: pytest warning filters for the test (e.g. a deprecation the call
    warns before it raises). ``guard``: a context manager factory, called with the
    temporary directory when ``tmp_path`` is set and with nothing otherwise, wrapped around
    each call; it checks the state after the call (e.g. that nothing was written).
    """

    def around(*args: Any) -> AbstractContextManager[object]:
        return guard(*args) if guard is not None else contextlib.nullcontext()

    if tmp_path:

        def test(
            tmp_path: Path, call: Callable[[Path], Any], error: type[BaseException], phrase: str
        ) -> None:
            with around(tmp_path):
                check_case(call, error, phrase, tmp_path)

    else:

        def test(call: Callable[[], Any], error: type[BaseException], phrase: str) -> None:
            with around():
                check_case(call, error, phrase)

    for spec in filterwarnings:
        test = pytest.mark.filterwarnings(spec)(test)
    params = [case[1:] for case in cases]
    return pytest.mark.parametrize(("call", "error", "phrase"), params, ids=case_ids(cases))(test)


def check_cli_case(
    main: Callable[[list[str]], int],
    argv: list[str],
    status: int,
    phrase: str,
    capsys: pytest.CaptureFixture[str],
    *,
    forbidden: Sequence[str] = (),
) -> None:
    """Fail unless ``main(argv)`` exits with ``status`` and advice matching ``phrase`` on stderr.

    The message must not be a traceback nor contain any of ``forbidden`` (advice in terms
    a command-line user cannot use, e.g. Python argument names).
    """
    code = main(argv)
    err = capsys.readouterr().err
    assert code == status, f"exit status {code}, expected {status}; stderr: {err}"
    assert re.search(phrase, err), f"{phrase!r} not found in stderr: {err}"
    assert "Traceback" not in err, f"a traceback on stderr: {err}"
    leaked = [p for p in forbidden if p in err]
    assert not leaked, f"Python-only advice {leaked} in CLI output: {err}"
