"""The one vocabulary of fault kinds agrees with the scenario language, the engine and the journal."""

from __future__ import annotations

from typing import get_args

import pytest

from mockserver.faults import kinds
from mockserver.faults.compiled import compile_fault
from mockserver.faults.decision import ConnectionFaultKind, StreamFaultKind
from mockserver.journal import analysis
from mockserver.wire import paths
from scenarios import schema


def test_the_language_words_and_the_vocabulary_agree_exactly() -> None:
    assert [k.name for k in kinds.KINDS] == list(schema.FAULT_NAMES)
    assert [k.kind for k in kinds.KINDS if k.family == "connection"] == list(get_args(schema.ConnectionKind))
    assert [k.kind for k in kinds.KINDS if k.family == "stream"] == list(get_args(schema.StreamKind))
    assert [k.name for k in kinds.KINDS if k.family == "error"] == ["spend_limit"]
    assert get_args(ConnectionFaultKind) == get_args(schema.ConnectionKind)
    assert get_args(StreamFaultKind) == get_args(schema.StreamKind)


@pytest.mark.parametrize("kind", kinds.KINDS, ids=lambda k: k.name)
def test_a_compiled_fault_carries_its_kinds_label(kind: kinds.FaultKind) -> None:
    compiled = compile_fault(schema.FaultSpec.model_validate(schema.expand_fault(kind.name)))
    assert compiled.label == kind.label
    applied = compiled.connection or compiled.stream
    assert (applied.kind if applied is not None else None) == kind.kind


def test_the_journal_analysis_reads_its_fault_sets_from_the_vocabulary() -> None:
    # every connection or stream fault but the stall (which still delivers every event)
    transport = {k.name for k in kinds.KINDS if k.family in ("connection", "stream")} - {"stream_stall"}
    assert transport == analysis.TRANSPORT_FAULTS
    assert {"delay", "stream_stall"} <= kinds.COMPLETING_LABELS
    assert not kinds.COMPLETING_LABELS & analysis.TRANSPORT_FAULTS


def test_the_language_counts_the_path_the_mock_serves_messages_on() -> None:
    # scenarios imports nothing of the project: its default path is its own constant
    assert schema.MESSAGES_PATH == paths.MESSAGES
    assert schema.RateLimits().paths == [paths.MESSAGES]
