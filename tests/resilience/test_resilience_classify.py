"""The retry classifier: which failures are retried, from statuses, headers and real SDK
exceptions."""

from __future__ import annotations

import anthropic
import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.support import sdk_status_error as sdk_error

from resilience.classify import (
    NEVER_RETRY,
    CircuitOpenError,
    IncompleteStreamError,
    Kind,
    classify_exception,
    classify_status,
)

NOW = 1_800_000_000.0
_REQUEST = httpx2.Request("POST", "http://127.0.0.1:9/v1/messages")


@pytest.mark.parametrize(
    ("status", "error_type", "kind"),
    [
        (529, "overloaded_error", Kind.OVERLOADED),
        (429, "rate_limit_error", Kind.RATE_LIMITED),
        (500, "api_error", Kind.SERVER),
        (502, "api_error", Kind.SERVER),
        (503, "api_error", Kind.SERVER),
        (504, "timeout_error", Kind.SERVER),
        (408, None, Kind.TIMEOUT),
        (409, "conflict_error", Kind.CONFLICT),
    ],
)
def test_transient_statuses_are_retried(status: int, error_type: str | None, kind: Kind) -> None:
    assert classify_status(status, error_type) == (kind, True)
    failure = classify_exception(sdk_error(status, error_type), now_wall=NOW)
    assert failure is not None
    assert (failure.kind, failure.retryable, failure.status, failure.request_id) == (
        kind,
        True,
        status,
        "req_x",
    )


@pytest.mark.parametrize("status", sorted(NEVER_RETRY))
def test_caller_errors_are_never_retried_even_when_the_server_says_retry(status: int) -> None:
    assert classify_status(status, "invalid_request_error") == (Kind.CALLER, False)
    assert classify_status(status, "invalid_request_error", "true") == (Kind.CALLER, False)
    failure = classify_exception(
        sdk_error(status, "invalid_request_error", {"x-should-retry": "true"}), now_wall=NOW
    )
    assert failure is not None and not failure.retryable and failure.kind is Kind.CALLER


@given(
    st.sampled_from(sorted(NEVER_RETRY)),
    st.none() | st.sampled_from(["overloaded_error", "api_error", "rate_limit_error"]),
    st.none() | st.sampled_from(["true", "false", "TRUE", ""]),
    st.none() | st.text(max_size=20),
)
def test_never_retry_statuses_are_not_retried_whatever_else_the_response_says(
    status: int, error_type: str | None, should_retry: str | None, code: str | None
) -> None:
    assert classify_status(status, error_type, should_retry, code)[1] is False


def test_spend_limit_429_marked_by_x_should_retry_false_is_not_retried() -> None:
    assert classify_status(429, "rate_limit_error", "false") == (Kind.SPEND_LIMITED, False)
    failure = classify_exception(
        sdk_error(429, "rate_limit_error", {"x-should-retry": "false"}), now_wall=NOW
    )
    assert failure is not None and failure.kind is Kind.SPEND_LIMITED and not failure.retryable


def test_spend_limit_429_named_by_error_code_is_not_retried() -> None:
    error = sdk_error(429, "rate_limit_error", details={"error_code": "enforced_spend_limit_reached"})
    failure = classify_exception(error, now_wall=NOW)
    assert failure is not None and (failure.kind, failure.retryable) == (Kind.SPEND_LIMITED, False)


def test_x_should_retry_false_stops_even_a_529() -> None:
    assert classify_status(529, "overloaded_error", "false") == (Kind.OVERLOADED, False)


def test_x_should_retry_true_makes_an_other_4xx_retryable() -> None:
    assert classify_status(422, None, "true")[1] is True
    assert classify_status(422, None)[1] is False


def test_only_exact_lowercase_should_retry_values_count() -> None:
    assert classify_status(529, None, "False") == (Kind.OVERLOADED, True)


def test_overloaded_error_inside_a_200_stream_is_a_retryable_overload() -> None:
    # The SDK raises a plain APIStatusError with status_code 200 for an SSE error event.
    failure = classify_exception(sdk_error(200, "overloaded_error"), now_wall=NOW)
    assert failure is not None
    assert (failure.kind, failure.retryable, failure.mid_stream) == (Kind.OVERLOADED, True, True)


def test_retry_after_is_read_from_the_error_response() -> None:
    failure = classify_exception(sdk_error(429, "rate_limit_error", {"retry-after": "7"}), now_wall=NOW)
    assert failure is not None and failure.retry_after_s == 7.0
    failure = classify_exception(sdk_error(529, "overloaded_error", {"retry-after-ms": "250"}), now_wall=NOW)
    assert failure is not None and failure.retry_after_s == 0.25


def test_connection_errors_and_timeouts_are_retried() -> None:
    timeout = classify_exception(anthropic.APITimeoutError(request=_REQUEST), now_wall=NOW)
    connection = classify_exception(anthropic.APIConnectionError(request=_REQUEST), now_wall=NOW)
    dropped = classify_exception(httpx2.RemoteProtocolError("peer closed connection"), now_wall=NOW)
    assert timeout is not None and (timeout.kind, timeout.retryable) == (Kind.TIMEOUT, True)
    assert connection is not None and (connection.kind, connection.retryable) == (Kind.CONNECTION, True)
    assert dropped is not None and (dropped.kind, dropped.retryable) == (Kind.CONNECTION, True)
    assert classify_exception(ConnectionResetError(), now_wall=NOW) is not None
    assert classify_exception(TimeoutError(), now_wall=NOW) is not None


def test_errors_that_are_not_ours_are_not_classified() -> None:
    assert classify_exception(ValueError("a bug in the caller"), now_wall=NOW) is None
    assert classify_exception(KeyboardInterrupt(), now_wall=NOW) is None


def test_an_open_circuit_is_its_own_kind() -> None:
    failure = classify_exception(CircuitOpenError("m", 3.0), now_wall=NOW)
    assert failure is not None and failure.kind is Kind.CIRCUIT_OPEN and not failure.retryable


def test_the_wrappers_own_errors_are_sdk_errors_so_existing_handlers_catch_them() -> None:
    assert isinstance(CircuitOpenError("m", 1.0), anthropic.AnthropicError)
    incomplete = IncompleteStreamError("content_block_delta", request=_REQUEST)
    assert isinstance(incomplete, anthropic.APIConnectionError)
    failure = classify_exception(incomplete, now_wall=NOW)
    assert failure is not None and (failure.kind, failure.retryable, failure.mid_stream) == (
        Kind.CONNECTION,
        True,
        True,
    )


def test_a_bad_status_gets_a_specific_error() -> None:
    with pytest.raises(ValueError, match="HTTP status code"):
        classify_status(1000)
