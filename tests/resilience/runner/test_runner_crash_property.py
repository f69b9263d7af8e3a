"""Crash consistency of state + output, as a property: whatever the outcomes and wherever the
process dies (between the commit and the append, in the middle of a line), rebuilding the
output from the state gives exactly one line per finished document, and the finished set is
exactly what was committed."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.runner import OutputFile
from resilience.runner.core import Complete, Fail, Requeue, parse_documents
from resilience.runner.store import FinishedJob, JobStore

N = 8
DOCS = parse_documents([json.dumps({"id": f"d{i}", "text": f"t{i}"}) for i in range(N)], model="m")

action = st.sampled_from(["complete", "fail", "requeue"])
step = st.tuples(st.integers(0, N - 1), action)
crash = st.sampled_from(["none", "before_append", "mid_line"])


def make(kind: str, doc: int) -> Any:
    if kind == "complete":
        return Complete({"type": "message", "n": doc})
    if kind == "fail":
        return Fail({"status": 400})
    return Requeue(0.0, {"status": 529})


@given(st.lists(step, max_size=30), st.integers(0, 30), crash)
@settings(max_examples=60, deadline=None)
def test_rebuilt_output_has_exactly_one_line_per_committed_finished_document(
    steps: list[tuple[int, str]], crash_at: int, how: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state, out_path = Path(tmp) / "s.sqlite", Path(tmp) / "out.jsonl"
        committed: dict[str, str] = {}
        with JobStore(state) as store:
            store.load(DOCS, 0.0)
            out = OutputFile(out_path)
            out.rebuild(store)
            out.open_for_append()
            attempts = dict.fromkeys(range(N), 0)
            for i, (doc, kind) in enumerate(steps):
                attempts[doc] += 1
                act = make(kind, doc)
                changed = store.record(DOCS[doc].id, attempts[doc], act, 1.0)
                if changed and not isinstance(act, Requeue):
                    committed[DOCS[doc].id] = "succeeded" if kind == "complete" else "failed"
                if i == crash_at and how != "none":
                    if how == "mid_line":  # the process died while writing this line
                        with out_path.open("a") as fh:
                            fh.write('{"id": "' + DOCS[doc].id + '", "sta')
                    break  # before_append: committed, never written
                if changed and not isinstance(act, Requeue):
                    state_name = committed[DOCS[doc].id]
                    payload = act.message if isinstance(act, Complete) else act.error
                    out.append(FinishedJob(DOCS[doc].id, doc, state_name, attempts[doc], payload))
            out.close()
        # a new process
        with JobStore(state) as store:
            OutputFile(out_path).rebuild(store)
        lines = [json.loads(x) for x in out_path.read_text().splitlines()]
    assert [r["id"] for r in lines] == [d.id for d in DOCS if d.id in committed]
    assert {r["id"]: r["status"] for r in lines} == committed
