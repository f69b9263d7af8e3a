"""The legacy Text Completions API (``POST /v1/complete``): its request's checks, its
``completion`` object and its SSE stream (``event: completion`` frames, each a whole object whose
``completion`` is the next piece of text, the last one naming the ``stop_reason``; a ``ping``
after the first; errors as the Messages stream's ``event: error``).

The text is the mock's deterministic generator's (:mod:`mockserver.wire.generation`), keyed by
the model, the prompt and the seed. Pure: no aiohttp.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mockserver.wire.catalogue import Catalogue
from mockserver.wire.errors import invalid
from mockserver.wire.generation import Completion, content_key, generate
from mockserver.wire.sampling import validate_sampling
from mockserver.wire.sse import SseEvent, event
from mockserver.wire.tokens import REQUEST_OVERHEAD, text_tokens
from mockserver.wire.validation import (
    MessageRequest,
    check_fields,
    model_field,
    resolve_model,
    stop_sequences,
    stream_flag,
)

HUMAN = "\n\nHuman:"
ASSISTANT = "\n\nAssistant:"
_FIELDS = frozenset(
    {
        "model",
        "prompt",
        "max_tokens_to_sample",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "stream",
        "metadata",
    }
)
# the real API's words (the turn markers are spelled with backslashes, as it sends them)
NOT_HUMAN_FIRST = r'prompt must start with "\n\nHuman:" turn after an optional system prompt'
NOT_ASSISTANT_LAST = r'prompt must end with "\n\nAssistant:" turn'


@dataclass(frozen=True, slots=True)
class CompleteRequest:
    """A validated Text Completions request, and the Messages-shaped request its text is made by."""

    model: str
    prompt: str
    stream: bool
    max_tokens: int
    input_tokens: int
    generating: MessageRequest


def _prompt(body: dict[str, Any]) -> str:
    if "prompt" not in body:
        raise invalid("prompt: Field required")
    prompt = body["prompt"]
    if not isinstance(prompt, str):
        raise invalid("prompt: Input should be a valid string")
    human, assistant = prompt.find(HUMAN), prompt.find(ASSISTANT)
    if human < 0 or 0 <= assistant < human:
        raise invalid(NOT_HUMAN_FIRST)
    if prompt.rfind(ASSISTANT) < prompt.rfind(HUMAN):
        raise invalid(NOT_ASSISTANT_LAST)
    return prompt


def _max_tokens_to_sample(body: dict[str, Any]) -> int:
    if "max_tokens_to_sample" not in body:
        raise invalid("max_tokens_to_sample: Field required")
    value = body["max_tokens_to_sample"]
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid("max_tokens_to_sample: Input should be a valid integer")
    if value < 1:
        raise invalid("max_tokens_to_sample: Input should be greater than or equal to 1")
    return value


def validate_complete_request(raw: Any, catalogue: Catalogue) -> CompleteRequest:
    """The request, or the API's 400 (404 for an unknown model)."""
    body = check_fields(raw, _FIELDS)
    model = model_field(body)
    prompt = _prompt(body)
    max_tokens = _max_tokens_to_sample(body)
    stops = stop_sequences(body)
    validate_sampling(body)
    stream = stream_flag(body)
    entry = resolve_model(model, catalogue)
    input_tokens = REQUEST_OVERHEAD + text_tokens(prompt)
    generating = MessageRequest(
        model=model,
        entry=entry,
        max_tokens=max_tokens,
        messages=[{"role": "user", "content": prompt}],
        system=None,
        stop_sequences=(HUMAN, *stops),
        stream=stream,
        tools=[],
        forced_tool=None,
        input_tokens=input_tokens,
    )
    return CompleteRequest(model, prompt, stream, max_tokens, input_tokens, generating)


def complete_text(request: CompleteRequest, seed: int) -> Completion:
    """The deterministic completion of the prompt (the same prompt, model and seed, the same text)."""
    return generate(request.generating, content_key({"model": request.model, "prompt": request.prompt}, seed))


def _text(completion: Completion) -> str:
    return "".join(str(o.block().get("text", "")) for o in completion.outputs)


def stop_reason(completion: Completion) -> str:
    """``max_tokens`` when cut, else ``stop_sequence`` (the end of the turn is the "\\n\\nHuman:" stop)."""
    return "max_tokens" if completion.stop_reason == "max_tokens" else "stop_sequence"


def completion_object(ident: str, model: str, completion: Completion) -> dict[str, Any]:
    return {
        "type": "completion",
        "id": ident,
        "completion": _text(completion),
        "stop_reason": stop_reason(completion),
        "model": model,
    }


def completion_json(ident: str, model: str, completion: Completion) -> bytes:
    return json.dumps(completion_object(ident, model, completion), separators=(",", ":")).encode()


def stream_events(ident: str, model: str, completion: Completion) -> list[SseEvent]:
    """The SSE stream of a completion: one ``completion`` frame per piece (paced as tokens), a
    ``ping`` after the first, and a last frame with no text that names the stop reason."""

    def frame(text: str, reason: str | None) -> bytes:
        data = {"type": "completion", "id": ident, "completion": text, "stop_reason": reason, "model": model}
        return event("completion", data)

    pieces = [p for o in completion.outputs for p in getattr(o, "pieces", ())]
    events = [SseEvent(frame(p, None), True) for p in pieces]
    events.insert(min(1, len(events)), SseEvent(event("ping", {"type": "ping"}), False))
    events.append(SseEvent(frame("", stop_reason(completion)), False))
    return events
