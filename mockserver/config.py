"""Server configuration: one frozen object, with defaults for tests and for `busysignal serve`."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mockserver.wire.catalogue import Catalogue, default_catalogue
from mockserver.wire.files import MAX_FILE_BYTES, MAX_STORED_FILE_BYTES

if TYPE_CHECKING:
    from mockserver.journal import JournalEntry

MAX_BODY_BYTES = 32 * 1024 * 1024  # Messages and count_tokens
MAX_BATCH_BODY_BYTES = 256 * 1024 * 1024  # Message Batches create
API_VERSIONS: frozenset[str] = frozenset({"2023-06-01", "2026-10-21"})

# `busysignal serve`: realistic but short (a 200-token answer takes about 2.5 s)
SERVE_TTFT_S = 0.4
SERVE_TOKENS_PER_S = 100.0
SERVE_BATCH_PROCESSING_S = 10.0

# read timeouts (mockserver/web/conn_guard.py): they bound reading a request, never writing a response
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ServerConfig:
    """How the mock behaves. The defaults are for tests: instant answers, batches that end at once.

    ``tokens_per_s=None`` (or 0) means tokens are not paced. Clocks are injectable: ``clock`` is the
    monotonic clock given to the fault engine, the journal and the batch processor; ``wall_clock``
    stamps ``wall_start`` and batch timestamps.

    ``strict`` (the default) refuses what the real API refuses beyond the body's shape: unknown
    ``anthropic-beta`` values, and ``temperature``/``top_k`` on the models that fix sampling.
    ``strict=False`` (``busysignal serve --lenient``) lets such requests through.
    """

    seed: int = 0
    ttft_s: float = 0.0
    tokens_per_s: float | None = None
    journal_size: int = 10_000
    auth: bool = True
    strict: bool = True  # refuse unknown betas and fixed-sampling parameters, as the API does
    api_keys: Collection[str] | None = None  # allow-list; None accepts any non-empty key
    control_token: str | None = None
    catalogue: Catalogue = field(default_factory=default_catalogue)
    batch_processing_s: float = 0.0  # time from create to ended (items finish spread over it)
    batch_cancel_s: float = 0.0  # time a cancel stays in "canceling"
    header_timeout_s: float = (
        DEFAULT_HEADER_TIMEOUT_S  # a request's headers must arrive within this (see conn_guard.py)
    )
    body_timeout_s: float = (
        DEFAULT_BODY_TIMEOUT_S  # and its body must not pause longer than this between chunks
    )
    max_batches: int = 10_000  # batches kept at most (the oldest ended go first); see batches.py
    max_body_bytes: int = MAX_BODY_BYTES
    max_batch_body_bytes: int = MAX_BATCH_BODY_BYTES
    max_file_bytes: int = MAX_FILE_BYTES  # one uploaded file (past it the 413); see wire/files.py
    max_stored_file_bytes: int = MAX_STORED_FILE_BYTES  # all files kept; the oldest go when over
    files_downloadable: bool = True  # uploads say downloadable and give their bytes back
    public_url: str | None = None  # base of results_url; default: from the request's Host
    response_cache_size: int = 512  # memoised generations, keyed by raw body (0 disables)
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    on_request_done: Callable[[JournalEntry], None] | None = None  # e.g. the serve command's log line
    # salt of the journal's api_key_id: None, a random one per server; a fixed text makes servers'
    # ids of a key equal (journals to correlate, scenario rules matching api_key_id)
    key_salt: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.api_keys, str):  # one key, not a collection of characters
            object.__setattr__(self, "api_keys", frozenset({self.api_keys}))
        if self.ttft_s < 0:
            raise ValueError(f"ttft_s must be >= 0, got {self.ttft_s}")
        if self.tokens_per_s is not None and self.tokens_per_s < 0:
            raise ValueError(f"tokens_per_s must be >= 0, got {self.tokens_per_s}")
        if self.journal_size < 1:
            raise ValueError(f"journal_size must be >= 1, got {self.journal_size}")
        if self.key_salt is not None and not self.key_salt:
            raise ValueError("key_salt must not be empty (None gives a random salt)")
        if self.batch_processing_s < 0 or self.batch_cancel_s < 0:
            raise ValueError("batch times must be >= 0")
        if not (self.header_timeout_s > 0 and self.body_timeout_s > 0):
            raise ValueError(
                f"read timeouts must be > 0 s, got {self.header_timeout_s} and {self.body_timeout_s}"
            )
        if self.max_file_bytes < 1 or self.max_stored_file_bytes < 1:
            raise ValueError("file byte limits must be >= 1")
        if self.max_batches < 1:
            raise ValueError(f"max_batches must be >= 1, got {self.max_batches}")
