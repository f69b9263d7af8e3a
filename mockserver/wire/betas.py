"""The ``anthropic-beta`` values the API knows, and its 400 for any other.

The real API refuses a request whose ``anthropic-beta`` header names a beta it does not know,
on every route, with ``invalid_request_error`` and the message :func:`unknown_betas_message`
builds (the wording clients report: ``Unexpected value(s) `a`, `b` for the `anthropic-beta`
header. ...``). The header is a comma-separated list and may be repeated; empty items are
skipped.

:data:`KNOWN_BETAS` is the SDK's ``AnthropicBetaParam`` literal (2.14.0, the same list as the
TS SDK's ``AnthropicBeta``), plus the betas the SDKs send on their own without naming them in
that literal (OAuth, workload federation, the TS structured-output helper, fine-grained tool
streaming that the stream helper reads). A test fails when an installed SDK's literal has a
value this table lacks, so an SDK upgrade is noticed. No library holds this table: it is the
API's, read from the SDKs.
"""

from __future__ import annotations

from collections.abc import Iterable

from mockserver.wire.errors import invalid

_LITERAL = """
computer-use-2024-10-22 computer-use-2025-01-24 output-128k-2025-02-19 mcp-client-2025-04-04
mcp-client-2025-11-20 dev-full-thinking-2025-05-14 interleaved-thinking-2025-05-14
code-execution-2025-05-22 context-1m-2025-08-07 context-management-2025-06-27
model-context-window-exceeded-2025-08-26 fast-mode-2026-02-01 output-300k-2026-03-24
user-profiles-2026-03-24 user-profiles-2026-08-18 user-profiles-2026-09-04 advisor-tool-2026-03-01
managed-agents-2026-04-01 dreaming-2026-04-21 thinking-token-count-2026-05-13
server-side-fallback-2026-06-01 server-side-fallback-2026-07-01 fallback-credit-2026-06-01
fallback-credit-2026-07-01 agent-memory-2026-07-22 mid-conversation-tool-changes-2026-07-01
compact-2026-01-12 computer-use-2025-11-24 mcp-tunnels-2026-06-22 structured-outputs-2025-11-13
task-budgets-2026-03-13 thinking-display-updates-2026-08-18 mid-conversation-output-config-2026-07-01
thinking-binding-controls-2026-08-01 mid-conversation-system-clear-at-2026-08-21 compact-2026-09-04
inline-tools-2026-09-15 mcp-client-2026-09-15 ce-plugins-2026-09-01 spend-limit-reads-2026-09-26
telemetry-destinations-2026-08-11 webhooks-2026-10-07 admin-user-sign-out-2026-10-08
message-threads-2026-08-12 analytics-usage-cost-2026-08-24 experimental-claude-tag-2026-10-21
message-batches-2024-09-24 prompt-caching-2024-07-31 pdfs-2024-09-25 token-counting-2024-11-01
token-efficient-tools-2025-02-19 files-api-2025-04-14 extended-cache-ttl-2025-04-11
skills-2025-10-02 cache-diagnosis-2026-04-07 ce-user-management-2026-07-13
ce-claude-code-managed-settings-2026-10-06 efs-2026-10-01 google-managed-data-controls-2026-09-01
user-profiles-billing-2026-10-01
"""

# sent by the SDKs themselves, outside the literal: lib/credentials (OAuth, federation), the TS
# SDK's structured-output parse helper, and the beta the Python stream helper looks for
_SENT_BY_SDKS = """
oauth-2025-04-20 oidc-federation-2026-04-01 structured-outputs-2025-12-15
fine-grained-tool-streaming-2025-05-14
"""

KNOWN_BETAS: frozenset[str] = frozenset(_LITERAL.split()) | frozenset(_SENT_BY_SDKS.split())


def unknown_betas_message(unknown: Iterable[str]) -> str:
    """The API's message for the unknown values ``unknown`` (in the order sent)."""
    names = ", ".join(f"`{name}`" for name in unknown)
    return (
        f"Unexpected value(s) {names} for the `anthropic-beta` header. Please consult our "
        "documentation at docs.anthropic.com or try again without the header."
    )


def check_betas(values: Iterable[str], known: frozenset[str] = KNOWN_BETAS) -> None:
    """The 400 when any of the header ``values`` (each comma-separated) names an unknown beta."""
    unknown: list[str] = []
    for value in values:
        for item in value.split(","):
            name = item.strip()
            if name and name not in known and name not in unknown:
                unknown.append(name)
    if unknown:
        raise invalid(unknown_betas_message(unknown))
