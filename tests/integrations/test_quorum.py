"""`required` and `min_success`: which answers are 200, 502 and 504, and why."""

from datetime import UTC, datetime

from app.core.errors import ErrorKind
from app.integrations.quorum import judge
from app.integrations.schemas import ExternalResponse


def result(name: str, kind: ErrorKind | None = None) -> ExternalResponse:
    return ExternalResponse.model_construct(
        provider=name,
        success=kind is None,
        response_time_ms=1.0,
        error_kind=kind,
        started_at=datetime.now(UTC),
    )


RESULTS = [result("a"), result("b", ErrorKind.TIMEOUT), result("c", ErrorKind.HTTP_STATUS)]


def test_no_rules_is_200_even_when_providers_fail() -> None:
    assert judge(RESULTS, [], None).status_code == 200


def test_a_failed_required_provider_is_502_naming_it() -> None:
    verdict = judge(RESULTS, ["a", "c"], None)
    assert verdict.status_code == 502
    assert verdict.unmet == "required provider(s) failed: c (http_status)"


def test_504_only_when_every_culprit_timed_out() -> None:
    assert judge(RESULTS, ["b"], None).status_code == 504
    assert judge(RESULTS, ["b", "c"], None).status_code == 502
    quorum = judge(RESULTS, [], 2)
    assert (quorum.status_code, quorum.unmet) == (502, "1 of 3 succeeded, min_success is 2")
    timeouts_only = [result("a"), result("b", ErrorKind.TIMEOUT)]
    assert judge(timeouts_only, [], 2).status_code == 504


def test_met_rules_are_200() -> None:
    verdict = judge(RESULTS, ["a"], 1)
    assert (verdict.status_code, verdict.unmet) == (200, None)


def test_a_required_provider_not_called_counts_as_failed() -> None:
    verdict = judge([result("a")], ["z"], None)
    assert (verdict.status_code, verdict.unmet) == (502, "required provider(s) not called: z")
    assert judge([result("a")], [], 2).status_code == 502  # more than were called
