"""The scenario language: pydantic models of a scenario file.

Every model forbids unknown keys, so a typo (``probabilty:``) is an error that names the line,
not a silently ignored setting. Faults may be written in a short form wherever one is expected:
an HTTP status (``529``) or a name (``reset``, ``stream_error_event``, ``spend_limit`` ...); the
short form is expanded into the long one (:class:`FaultSpec`) at validation time.

Precedence, when several things could apply to one request (also in ``scenarios/README.md``):
1. the per-request override header (``x-busysignal-fault``) when enabled, and nothing else;
2. rate limits (token buckets), which answer 429 before anything else is looked at;
3. rules, in file order: the first rule that matches and fires with a fault decides the fault;
   a rule with only ``latency`` / ``tokens`` is a modifier, and the first modifier that fires
   sets each of those; a rule with a fault is not evaluated once a fault has been chosen;
4. the capacity model, for requests that still have no fault: admit, queue or shed (529).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast, get_args

from pydantic import BeforeValidator, Field, field_validator, model_validator

from scenarios.base import StrictModel as _Model
from scenarios.base import exactly_one_of as _exactly_one_of
from scenarios.headers import HEADER_NAMES_SCHEMA, HeaderValue, check_fault_headers
from scenarios.when import Day, Schedule, When, Window

# The API path rate limits and capacity pools count by default (mockserver.wire.paths.MESSAGES;
# scenarios imports nothing of the project, so a test keeps the two equal).
MESSAGES_PATH = "/v1/messages"

# The words of the fault kinds, each written once here (mockserver.faults.kinds maps them to
# what the mock does and journals; a test keeps the two in step).
ConnectionKind = Literal["reset", "hang", "close_after_headers", "truncated_body", "garbage"]
StreamKind = Literal["error_event", "stall", "cut"]
CONNECTION_FAULT_NAMES: tuple[str, ...] = get_args(ConnectionKind)
STREAM_FAULT_NAMES = {f"stream_{kind}": kind for kind in get_args(StreamKind)}  # short form → kind
FAULT_NAMES = (*CONNECTION_FAULT_NAMES, *STREAM_FAULT_NAMES, "spend_limit", "refusal")
# the policy categories of a refusal's stop_details (the API's vocabulary)
RefusalCategory = Literal["cyber", "bio", "frontier_llm", "reasoning_extraction", "general_harms"]
Speed = Literal["standard", "fast"]
# the short forms as one Literal (for the published JSON Schema's enum)
FaultName: Any = cast(Any, Literal)[FAULT_NAMES]
StatusCode = Annotated[int, Field(ge=400, le=599, description="an HTTP error status")]
MAX_RULES = 1000  # rules in one scenario (scenarios/README.md, "Limits")
MAX_RETRY_AFTER_S = 86_400.0  # a day: longer is no retry hint any client would follow
# the message of the real API's spend-cap 429 (the `spend_limit` fault)
SPEND_LIMIT_MESSAGE = (
    "You have reached your specified API usage limits. You will regain access on the first day of next month."
)


class ErrorFault(_Model):
    """An HTTP error response with the Anthropic error body."""

    status: StatusCode
    type: str | None = Field(
        default=None, description="error.type; default from the status (529: overloaded_error)"
    )
    message: str | None = Field(default=None, description="error.message; default from the status")
    retry_after_s: float | None = Field(
        default=None,
        ge=0,
        le=MAX_RETRY_AFTER_S,
        description="send `retry-after` (seconds); a 429 sends 1 unless given; null: a 429 without it",
    )
    retry_after_ms: float | None = Field(
        default=None, ge=0, le=MAX_RETRY_AFTER_S * 1000, description="send `retry-after-ms` (SDKs prefer it)"
    )
    should_retry: bool | None = Field(default=None, description="send `x-should-retry: true|false`")
    headers: dict[str, HeaderValue] = Field(
        default_factory=dict,
        description="extra response headers (not framing or hop-by-hop ones such as content-length)",
        json_schema_extra=HEADER_NAMES_SCHEMA,
    )

    _settable_headers = field_validator("headers", mode="before")(check_fault_headers)


class ConnectionFaultSpec(_Model):
    """A transport-level failure instead of an HTTP response."""

    kind: ConnectionKind
    hang_s: float = Field(
        default=600.0, gt=0, description="for hang: how long to hold the connection at most"
    )


class StreamFaultSpec(_Model):
    """A failure after a 200 streamed response has started (only applies to stream: true requests)."""

    kind: StreamKind
    after_events: int = Field(default=3, ge=0, strict=True, description="SSE events sent before the fault")
    error_type: str = Field(default="overloaded_error", description="for error_event: the error.type")
    message: str = Field(default="Overloaded", description="for error_event: the error.message")
    stall_s: float = Field(default=0.0, ge=0, description="for stall: seconds without any byte")


class RefusalFaultSpec(_Model):
    """A 200 whose model declines: ``stop_reason: refusal`` with its ``stop_details`` (Messages
    only; on any other route the rule passes)."""

    category: RefusalCategory | None = Field(default=None, description="stop_details.category")
    explanation: str | None = Field(default=None, description="stop_details.explanation")
    recommended_model: str | None = Field(
        default=None, description="stop_details.recommended_model: the model to retry on"
    )


class FaultSpec(_Model):
    """Exactly one of error / connection / stream / refusal."""

    error: ErrorFault | None = None
    connection: ConnectionFaultSpec | None = None
    stream: StreamFaultSpec | None = None
    refusal: RefusalFaultSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> FaultSpec:
        _exactly_one_of(self, "a fault", ("error", "connection", "stream", "refusal"))
        return self


def expand_fault(value: Any) -> Any:
    """Short forms → the long form: 529 → {error: {status: 529}}, "reset" → {connection: ...}."""
    if isinstance(value, bool):
        raise ValueError(f"a fault cannot be a boolean ({value!r})")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int):
        if not 400 <= value <= 599:
            raise ValueError(f"a fault status must be an HTTP error status 400-599, not {value}")
        return {"error": {"status": value}}
    if isinstance(value, str):
        name = value.strip()
        if name in CONNECTION_FAULT_NAMES:
            return {"connection": {"kind": name}}
        if name in STREAM_FAULT_NAMES:
            return {"stream": {"kind": STREAM_FAULT_NAMES[name]}}
        if name == "refusal":
            return {"refusal": {}}
        if name == "spend_limit":
            return {
                "error": {
                    "status": 429,
                    "type": "rate_limit_error",
                    "message": SPEND_LIMIT_MESSAGE,
                    "should_retry": False,
                    "retry_after_s": None,  # the spend-cap 429 says no time: it will not pass soon
                }
            }
        raise ValueError(
            f"unknown fault {value!r}: use an HTTP status (400-599), one of {', '.join(FAULT_NAMES)}, "
            "or a mapping with error / connection / stream / refusal"
        )
    return value


def _expand_sequence_item(value: Any) -> Any:
    if value is None or (isinstance(value, str) and value.strip() in ("ok", "pass")):
        return None
    return expand_fault(value)


Fault = Annotated[
    FaultSpec,
    BeforeValidator(expand_fault, json_schema_input_type=StatusCode | FaultName | FaultSpec),
]
SequenceItem = Annotated[
    FaultSpec | None,
    BeforeValidator(
        _expand_sequence_item, json_schema_input_type=Literal["ok"] | StatusCode | FaultName | FaultSpec
    ),
]
Patterns = str | list[str]


class Match(_Model):
    """Which requests a rule applies to; every given field must match. Patterns use shell
    wildcards (``claude-opus-*``); a list matches when any element does."""

    path: Patterns | None = Field(
        default=None,
        description="request path pattern, e.g. /v1/files* ; absent: the routes that run a model "
        "(/v1/messages, /v1/messages/count_tokens, batch items, /v1/complete)",
    )
    method: Patterns | None = None
    model: Patterns | None = Field(default=None, description="model id, wildcards allowed")
    stream: bool | None = None
    speed: Speed | None = Field(
        default=None, description="the Messages request's speed (a request without one is standard)"
    )
    api_key_id: Patterns | None = Field(default=None, description="the journal's api_key_id of the key")
    headers: dict[str, str] = Field(
        default_factory=dict, description="request header (lower-case name) → pattern; '*' = present"
    )


class Trigger(_Model):
    """When a matching request gets the fault. With no field set, every matching request does.

    ``sequence`` is a script (``[529, 529, ok]``): the n-th matching request in a scope gets the
    n-th item, and after the last one requests pass (or the script repeats). Otherwise
    ``after``, ``every`` and ``probability`` combine (all must hold). Counters are kept per
    ``scope``: global, per API key, or per logical request (same key + same body, i.e. one
    call and its retries).
    """

    sequence: list[SequenceItem] | None = Field(default=None, min_length=1)
    repeat: bool = Field(default=False, description="start the sequence again after its last item")
    probability: float | None = Field(default=None, ge=0, le=1)
    every: int | None = Field(
        default=None, ge=1, strict=True, description="the every-th matching request (every: 3 → 3rd, 6th ...)"
    )
    after: int | None = Field(
        default=None, ge=0, strict=True, description="only after this many matching requests have passed"
    )
    scope: Literal["global", "api_key", "logical"] = "global"

    @model_validator(mode="after")
    def _sequence_alone(self) -> Trigger:
        if self.sequence is not None:
            extra = [k for k in ("probability", "every", "after") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"sequence cannot be combined with {', '.join(extra)}")
        elif self.repeat:
            raise ValueError("repeat only applies to a sequence")
        return self


class LognormalSpec(_Model):
    median_s: float = Field(gt=0)
    p99_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _p99_above_median(self) -> LognormalSpec:
        if self.p99_s <= self.median_s:
            raise ValueError(f"p99_s ({self.p99_s}) must be above median_s ({self.median_s})")
        return self


class LatencySpec(_Model):
    """Extra time before the first response byte. Exactly one of fixed_s, uniform_s, lognormal."""

    fixed_s: float | None = Field(default=None, ge=0)
    uniform_s: tuple[float, float] | None = Field(default=None, description="[low, high] seconds")
    lognormal: LognormalSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> LatencySpec:
        _exactly_one_of(self, "latency", ("fixed_s", "uniform_s", "lognormal"))
        if self.uniform_s is not None and not 0 <= self.uniform_s[0] <= self.uniform_s[1]:
            raise ValueError(f"uniform_s {list(self.uniform_s)} must be [low, high] with 0 <= low <= high")
        return self


class TokensSpec(_Model):
    """Generation speed: time to first token and tokens per second (slow streaming)."""

    ttft_s: float | None = Field(default=None, ge=0)
    tokens_per_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _something(self) -> TokensSpec:
        if self.ttft_s is None and self.tokens_per_s is None:
            raise ValueError("tokens needs ttft_s and/or tokens_per_s")
        return self


class Rule(_Model):
    id: str | None = Field(default=None, description="name used in the journal's reason; default rule-<n>")
    description: str | None = None
    match: Match = Field(default_factory=lambda: Match())
    when: When = Field(default_factory=lambda: When())
    trigger: Trigger = Field(default_factory=lambda: Trigger())
    fault: Fault | None = None
    latency: LatencySpec | None = None
    tokens: TokensSpec | None = None

    @model_validator(mode="after")
    def _does_something(self) -> Rule:
        if self.trigger.sequence is not None and self.fault is not None:
            raise ValueError(
                "a rule with a trigger sequence takes its faults from the sequence; remove fault"
            )
        if (
            self.trigger.sequence is None
            and self.fault is None
            and self.latency is None
            and self.tokens is None
        ):
            raise ValueError("a rule needs a fault, a trigger sequence, latency or tokens")
        return self


class Limits(_Model):
    requests_per_minute: int | None = Field(default=None, ge=1, strict=True)
    input_tokens_per_minute: int | None = Field(default=None, ge=1, strict=True)
    output_tokens_per_minute: int | None = Field(default=None, ge=1, strict=True)


class ModelClassLimits(Limits):
    models: Patterns = Field(description="model ids (wildcards) in this class")


class RateLimits(Limits):
    """Token buckets per API key (and per model class), refilled continuously, like the real API.

    The top-level limits apply to models in no class. Output tokens are reserved from
    max_tokens at admission and the unused part is given back when the response ends.
    """

    classes: dict[str, ModelClassLimits] = Field(default_factory=dict)
    paths: list[str] = Field(default_factory=lambda: [MESSAGES_PATH])
    retry_after: bool = Field(
        default=True, description="send retry-after (whole seconds until it fits) with a refused request"
    )
    retry_after_ms: bool = Field(default=False, description="also send the exact wait as retry-after-ms")


class CapacityPool(_Model):
    """How much generation the servers for some models can run at once."""

    models: Patterns = "*"
    concurrency: int = Field(ge=1, strict=True, description="requests generating at once at full capacity")
    tokens_per_s: float | None = Field(
        default=None, gt=0, description="aggregate output tokens/s of the pool"
    )
    stream_tokens_per_s: float = Field(
        default=50.0, gt=0, description="one request's generation speed when idle"
    )
    ttft_s: float = Field(default=0.2, ge=0, description="time to first token when idle")
    expected_output_tokens: int | None = Field(
        default=None,
        ge=1,
        strict=True,
        description="output length assumed for a request (default: its max_tokens)",
    )
    queue_size: int = Field(default=0, ge=0, strict=True, description="requests that may wait for a slot")
    max_wait_s: float = Field(default=0.0, ge=0, description="longest wait in the queue; longer → shed")
    slowdown: float = Field(
        default=1.0, ge=0, description="at full utilisation ttft × (1+slowdown), speed ÷ (1+slowdown)"
    )
    shed: Fault = Field(
        default_factory=lambda: FaultSpec.model_validate({"error": {"status": 529}}),
        description="the answer when shedding (default 529 overloaded_error)",
    )
    shed_cost_s: float = Field(
        default=0.0,
        ge=0,
        description="seconds of one slot a shed request still costs (connection, TLS, auth, parsing, "
        "routing); 0: shedding is free",
    )
    shed_backlog_s: float = Field(
        default=10.0,
        ge=0,
        description="a shed whose rejection work could not start within this many seconds costs nothing "
        "(the frontend's accept backlog overflows)",
    )


class CapacityChange(_Model):
    """Capacity × factor during [start_s, end_s) (repeating every period_s if given)."""

    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    factor: float = Field(ge=0)
    period_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> CapacityChange:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s}) must be after start_s ({self.start_s})")
        if self.period_s is not None and self.end_s > self.period_s:
            raise ValueError(f"end_s ({self.end_s}) must be within period_s ({self.period_s})")
        return self


class Capacity(_Model):
    pools: list[CapacityPool] = Field(min_length=1, description="the first pool whose models match is used")
    client_gone_holds: bool = Field(
        default=True, description="work whose client went away keeps its slot until it would have finished"
    )
    paths: list[str] = Field(default_factory=lambda: [MESSAGES_PATH])
    schedule: list[CapacityChange] = Field(default_factory=list)


class Override(_Model):
    """The per-request override header, e.g. ``x-busysignal-fault: 529``."""

    header: str = "x-busysignal-fault"
    enabled: Literal["loopback", "always", "never"] = Field(
        default="loopback", description="loopback: only for requests from 127.0.0.1/::1"
    )


class Scenario(_Model):
    """A busysignal scenario: what the mock server does to the requests it gets."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = Field(min_length=1, description="the real situation this scenario models")
    override: Override = Field(default_factory=lambda: Override())
    rules: list[Rule] = Field(default_factory=list, max_length=MAX_RULES)
    rate_limits: RateLimits | None = None
    capacity: Capacity | None = None

    @field_validator("rules")
    @classmethod
    def _unique_rule_ids(cls, rules: list[Rule]) -> list[Rule]:
        seen: dict[str, int] = {}
        for i, rule in enumerate(rules):
            rid = rule.id or f"rule-{i}"
            if rid in seen:
                raise ValueError(f"duplicate rule id {rid!r} (rules[{seen[rid]}] and rules[{i}])")
            seen[rid] = i
        return rules


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of a scenario file (validation mode: what may be written)."""
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "busysignal scenario"
    return schema


__all__ = [
    "MAX_RETRY_AFTER_S",
    "MAX_RULES",
    "Capacity",
    "CapacityChange",
    "CapacityPool",
    "ConnectionFaultSpec",
    "Day",
    "ErrorFault",
    "FaultSpec",
    "LatencySpec",
    "Limits",
    "Match",
    "Override",
    "RateLimits",
    "Rule",
    "Scenario",
    "Schedule",
    "StreamFaultSpec",
    "Trigger",
    "When",
    "Window",
    "expand_fault",
    "json_schema",
]
