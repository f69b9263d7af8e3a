"""The resilient streams: ``ResilientStream`` and ``AsyncResilientStream``, the SDK's own stream
types fed by a stream that already passed the :class:`~resilience.policy.Policy`.

* What an attempt holds back before the caller sees anything (so that an ``overloaded_error``
  inside a 200 stream is still retried) is :data:`~resilience.policy.StreamRetry`: the
  attempt reads ahead with :func:`_prefetch` / :func:`_aprefetch`.
* What happens after output reached the caller is ``Policy(stream_resume=...)``: the replay
  rule (:class:`_Resumer`) lives once, in the generator :func:`_stream_steps`, which the sync
  and async stream classes drive (reading, reopening and closing where they must).
* A stream that ends without ``message_stop`` is the dropped connection it is
  (:class:`~resilience.classify.IncompleteStreamError`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping
from typing import Any, NamedTuple

from anthropic import AsyncStream, Stream
from anthropic.types import RawMessageStreamEvent

from resilience.classify import IncompleteStreamError, classify_exception
from resilience.instrumentation.events import StreamInterrupted
from resilience.policy import Policy, StreamRetry

__all__ = ["AsyncResilientStream", "ResilientStream"]

# Events that hand output to the caller; everything before the first of them is the preamble.
_OUTPUT_EVENTS = frozenset({"content_block_delta", "message_delta", "message_stop"})


def _same_event(delivered: RawMessageStreamEvent, replayed: RawMessageStreamEvent) -> bool:
    """Does a replayed event say what the delivered one said? Ids and usage may differ."""
    if delivered.type != replayed.type:
        return False
    if delivered.type == "message_start" and replayed.type == "message_start":
        return (delivered.message.model, delivered.message.role) == (
            replayed.message.model,
            replayed.message.role,
        )
    if delivered.type == "message_delta" and replayed.type == "message_delta":
        return delivered.delta == replayed.delta
    return delivered.to_dict() == replayed.to_dict()


class _Opened(NamedTuple):
    """A stream that passed the policy: the SDK stream, the events read ahead, whether those
    were all of it, and the model and parameters that produced it."""

    inner: Any  # Stream or AsyncStream of RawMessageStreamEvent
    held: list[RawMessageStreamEvent]
    done: bool
    model: str
    params: Mapping[str, Any]


class _Resumer:
    """The replay rule shared by both stream classes: after output was handed over, a failure
    is retried by opening the same request again and checking that the new stream repeats
    every delivered event; the caller sees the stream carry on only if it does."""

    def __init__(self, policy: Policy, model: str) -> None:
        self.policy = policy
        self.model = model
        self.enabled = policy.stream_resume
        self.delivered: list[RawMessageStreamEvent] = []
        self.count = 0
        self.replay_pos: int | None = None
        self.resumes = 0

    def may_resume(self, exc: BaseException) -> bool:
        """Resume after ``exc``? With ``stream_resume``, or while nothing was handed to the
        caller yet (``stream_retry="none"`` hands events over as they come, so an error event
        can come first: retrying it replays nothing); only a retryable failure, within the
        attempt limit, and only with a token from the retry budget (a resumption is a retry,
        not a new request)."""
        if not (self.enabled or self.count == 0) or self.resumes >= self.policy.retry.max_attempts - 1:
            return False
        failure = classify_exception(exc, now_wall=self.policy.clock.wall())
        if failure is None or not failure.retryable:
            return False
        budget = self.policy.budget
        if budget is not None and not budget.try_retry():
            self.policy.counters.add("budget_refusals")
            return False
        return True

    def interrupted(self, exc: BaseException, *, resumed: bool) -> None:
        failure = classify_exception(exc, now_wall=self.policy.clock.wall())
        self.policy.counters.add("stream_interruptions")
        kind = failure.kind.value if failure else None
        self.policy.emit(
            StreamInterrupted(model=self.model, events_delivered=self.count, kind=kind, resumed=resumed)
        )

    def behind(self) -> bool:
        """Replaying, and not yet caught up with what the caller already has."""
        return self.replay_pos is not None and self.replay_pos < len(self.delivered)

    def start_replay(self) -> None:
        self.resumes += 1
        self.replay_pos = 0

    def accept(self, event: RawMessageStreamEvent) -> bool | None:
        """True: hand ``event`` to the caller; False: a replayed event, swallow it; None: the
        replay diverged from what the caller already has."""
        if self.replay_pos is not None and self.replay_pos < len(self.delivered):
            if not _same_event(self.delivered[self.replay_pos], event):
                return None
            self.replay_pos += 1
            return False
        self.replay_pos = None
        self.count += 1
        if self.enabled:
            self.delivered.append(event)
        return True


def _diverged(exc: BaseException) -> BaseException:
    if hasattr(exc, "add_note"):
        exc.add_note(
            "busysignal: the stream was retried, but the retry did not replay the output already delivered"
        )
    return exc


_NEXT = 0  # read the next event of the SDK stream (None at its end)
_REOPEN = 1  # open the request again under the policy (a resumption)
_CLOSE = 2  # close an SDK stream
_EMIT = 3  # hand an event to the caller

_StreamStep = tuple[int, Any]


def _stream_steps(opened: _Opened, policy: Policy, live: list[Any]) -> Generator[_StreamStep, Any, None]:
    """The logic of a resilient stream, once for both: what to read, when to resume, what to
    hand over. It yields steps (:data:`_NEXT`, :data:`_REOPEN`, :data:`_CLOSE`, :data:`_EMIT`)
    that the sync and async shells perform (awaiting where they must) and send back: an event
    (None at the end of the SDK stream) or a reopened stream; a failure is thrown in.
    ``live[0]`` is kept pointing at the SDK stream in use, so that ``close()`` reaches it."""
    state = _Resumer(policy, opened.model)
    pending = list(opened.held)
    inner = opened.inner
    done = opened.done
    last_type = opened.held[-1].type if opened.held else None
    failure: BaseException | None = None
    while True:
        event: RawMessageStreamEvent | None
        try:
            if pending:
                event = pending.pop(0)
            elif done:
                event = None
            else:
                event = yield (_NEXT, inner)
                if event is None and last_type != "message_stop" and not state.behind():
                    raise IncompleteStreamError(last_type, request=inner.response.request)
        except Exception as exc:
            if not state.may_resume(exc):
                state.interrupted(exc, resumed=False)
                raise
            try:
                opened = yield (_REOPEN, opened)
            except Exception:
                state.interrupted(exc, resumed=False)
                raise exc from None
            state.interrupted(exc, resumed=True)
            failure = exc
            inner, pending, done = opened.inner, list(opened.held), opened.done
            last_type = None
            live[0] = inner
            state.start_replay()
            continue
        if event is None:
            if state.behind() and failure is not None:  # the retry ended before catching up
                state.interrupted(failure, resumed=False)
                raise _diverged(failure) from None
            return
        last_type = event.type
        verdict = state.accept(event)
        if verdict is None:
            yield (_CLOSE, inner)
            assert failure is not None
            raise _diverged(failure)
        if verdict:
            yield (_EMIT, event)


def _advance(
    core: Generator[_StreamStep, Any, None], reply: Any, error: BaseException | None
) -> _StreamStep | None:
    """The core's next step after ``reply`` (or ``error``); None when the stream is over."""
    try:
        return core.throw(error) if error is not None else core.send(reply)
    except StopIteration:
        return None


def _hold(held: list[RawMessageStreamEvent], event: RawMessageStreamEvent, mode: StreamRetry) -> bool:
    """Hold ``event`` back; True once enough is held (``preamble``: the first output event)."""
    held.append(event)
    return mode == "preamble" and event.type in _OUTPUT_EVENTS


def _held_all(held: list[RawMessageStreamEvent], inner: Any) -> tuple[list[RawMessageStreamEvent], bool]:
    """The SDK stream ended while events were being held: complete only with message_stop."""
    if not held or held[-1].type != "message_stop":
        raise IncompleteStreamError(held[-1].type if held else None, request=inner.response.request)
    return held, True


# --- sync streams ------------------------------------------------------------------------------------
class ResilientStream(Stream[RawMessageStreamEvent]):
    """The SDK's ``Stream`` of raw events, fed by a stream that already passed the policy. The
    events held back while the attempt could still be retried come first; with
    ``Policy(stream_resume=True)`` a later failure is retried too when the retry replays the
    output exactly (see :class:`~resilience.policy.Policy`)."""

    def __init__(self, opened: _Opened, *, policy: Policy, reopen: Callable[[_Opened], _Opened]) -> None:
        inner = opened.inner
        super().__init__(
            cast_to=inner._cast_to,
            response=inner.response,
            client=inner._client,
            options=inner._options,
        )
        self._opened = opened
        self._policy = policy
        self._reopen = reopen
        self._live: list[Stream[RawMessageStreamEvent]] = [opened.inner]  # shared with the iterator's copy

    def __stream__(self) -> Iterator[RawMessageStreamEvent]:
        core = _stream_steps(self._opened, self._policy, self._live)
        step = _advance(core, None, None)
        while step is not None:
            kind, arg = step
            reply: Any = None
            error: BaseException | None = None
            if kind == _EMIT:
                yield arg
            else:
                try:
                    if kind == _NEXT:
                        reply = next(arg, None)
                    elif kind == _REOPEN:
                        reply = self._reopen(arg)
                    else:
                        arg.close()
                except Exception as exc:
                    error = exc
            step = _advance(core, reply, error)

    def close(self) -> None:
        super().close()
        self._live[0].close()


def _prefetch(
    inner: Stream[RawMessageStreamEvent], mode: StreamRetry
) -> tuple[list[RawMessageStreamEvent], bool]:
    held: list[RawMessageStreamEvent] = []
    if mode != "none":
        while (event := next(inner, None)) is not None:
            if _hold(held, event, mode):
                return held, False
        return _held_all(held, inner)
    return held, False


class AsyncResilientStream(AsyncStream[RawMessageStreamEvent]):
    """The SDK's ``AsyncStream`` of raw events, fed by a stream that already passed the policy
    (see :class:`ResilientStream`)."""

    def __init__(
        self, opened: _Opened, *, policy: Policy, reopen: Callable[[_Opened], Awaitable[_Opened]]
    ) -> None:
        inner = opened.inner
        super().__init__(
            cast_to=inner._cast_to,
            response=inner.response,
            client=inner._client,
            options=inner._options,
        )
        self._opened = opened
        self._policy = policy
        self._reopen = reopen
        self._live: list[AsyncStream[RawMessageStreamEvent]] = [
            opened.inner
        ]  # shared with the iterator's copy

    async def __stream__(self) -> AsyncIterator[RawMessageStreamEvent]:
        core = _stream_steps(self._opened, self._policy, self._live)
        step = _advance(core, None, None)
        while step is not None:
            kind, arg = step
            reply: Any = None
            error: BaseException | None = None
            if kind == _EMIT:
                yield arg
            else:
                try:
                    if kind == _NEXT:
                        reply = await anext(arg, None)
                    elif kind == _REOPEN:
                        reply = await self._reopen(arg)
                    else:
                        await arg.close()
                except Exception as exc:
                    error = exc
            step = _advance(core, reply, error)

    async def close(self) -> None:
        await super().close()
        await self._live[0].close()


async def _aprefetch(
    inner: AsyncStream[RawMessageStreamEvent], mode: StreamRetry
) -> tuple[list[RawMessageStreamEvent], bool]:
    held: list[RawMessageStreamEvent] = []
    if mode != "none":
        while (event := await anext(inner, None)) is not None:
            if _hold(held, event, mode):
                return held, False
        return _held_all(held, inner)
    return held, False
