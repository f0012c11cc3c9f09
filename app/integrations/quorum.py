"""Per-request success rules: `required` providers and a `min_success` quorum.

A fan-out whose rules are unmet answers 502, or 504 when every failure that broke a rule was a
timeout; the body still carries every provider's result. A required provider that was not
called counts as failed, and a `min_success` above the number called is unmet: the API refuses
both with a 422 before calling anyone (`app/api/routes/integrations.py`), so through it they
only reach here from direct callers of the manager. Every answer says whether it is partial
(some provider failed), in `summary.partial` and the `X-Partial` header.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from app.core.errors import ErrorKind
from app.integrations.schemas import ExternalResponse

PARTIAL_HEADER = "X-Partial"


@dataclass(frozen=True, slots=True)
class Verdict:
    unmet: str | None
    status_code: int  # 200, 502 or 504


def judge(
    results: Sequence[ExternalResponse], required: Sequence[str], min_success: int | None
) -> Verdict:
    culprits: list[ExternalResponse] = []
    reasons: list[str] = []
    wanted = set(required)
    not_called = sorted(wanted - {r.provider for r in results})
    if not_called:
        reasons.append(f"required provider(s) not called: {', '.join(not_called)}")
    failed_required = [r for r in results if r.provider in wanted and not r.success]
    if failed_required:
        culprits += failed_required
        reasons.append(
            "required provider(s) failed: "
            + ", ".join(f"{r.provider} ({r.error_kind})" for r in failed_required)
        )
    succeeded = sum(r.success for r in results)
    if min_success is not None and succeeded < min_success:
        culprits += [r for r in results if not r.success]
        reasons.append(f"{succeeded} of {len(results)} succeeded, min_success is {min_success}")
    if not reasons:
        return Verdict(None, 200)
    # 504 only when timeouts are the whole story: no provider missing, no other failure.
    timeouts = bool(culprits) and not not_called
    timeouts = timeouts and all(r.error_kind is ErrorKind.TIMEOUT for r in culprits)
    return Verdict("; ".join(reasons), 504 if timeouts else 502)
