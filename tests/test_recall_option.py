"""``--recall N|all``: one parser for the CLI, the client and JobOptions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.errors import InvalidInputError
from common.recall_option import DEFAULT_RECALL, parse_recall, recall_windows
from common.schemas import JobOptions


@pytest.mark.parametrize(("given", "expected"), [("200", 200), (" 7 ", 7), (1, 1), ("ALL", "all")])
def test_numbers_and_all_are_accepted(given: object, expected: object) -> None:
    assert parse_recall(given) == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("0", "at least 1 window"),
        (0, "at least 1 window"),
        ("-5", "at least 1 window"),
        ("ten", "not a number"),
        ("2.5", "not a number"),
        ("", "not a number"),
        (2.5, "number of windows"),
        (True, "number of windows"),
        (None, "number of windows"),
    ],
)
def test_bad_values_are_refused_with_the_value_and_the_reason(given: object, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason) as caught:
        parse_recall(given)
    assert repr(given) in str(caught.value)


def test_job_options_default_recall_and_full_scan() -> None:
    assert JobOptions().recall == DEFAULT_RECALL == 200
    assert recall_windows(JobOptions().recall) == 200
    assert recall_windows(JobOptions(recall="all").recall) is None
    assert JobOptions.model_validate_json('{"recall": "all"}').recall == "all"


def test_job_options_refuse_bad_recall_as_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="recall 0: recall must be at least 1 window"):
        JobOptions(recall=0)
