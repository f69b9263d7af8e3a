"""Compliance review (``client.beta.compliance.review``) through the real SDK: a server starts
with no case; cases added to its state (``wire.compliance.add_case``) are listed in cursor pages
with their filters and orders, got, and responded to (which closes them); their items are got,
notices listed; the real 404s and 400s, and faults on the family's paths."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import anthropic
import pytest
from tests.support import TEST_KEY, strict_client

from mockserver import MockServer
from mockserver.wire import compliance as cr
from mockserver.wire.resources import Resources

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()


def _seed(resources: Resources, count: int = 3) -> list[str]:
    """``count`` cases an hour apart (the first with a user profile), each flagging two messages."""
    ids = []
    for n in range(count):
        case = cr.add_case(
            resources,
            f"rvc_{n}",
            T0 + 3600 * n,
            item_ids=[f"msg_{n}a", f"msg_{n}b"],
            policy_categories=["cyber"] if n else ["fraud", "io"],
            user_profile_id="uprof_1" if n == 0 else None,
            model="claude-sonnet-4-5",
            request={"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": []} if n == 0 else None,
        )
        ids.append(str(case["id"]))
    return ids


def test_a_server_starts_with_no_case_and_unknown_ids_are_404s() -> None:
    with MockServer() as server:
        review = strict_client(server).beta.compliance.review
        assert review.cases.list().data == [] and review.notices.list().data == []
        with pytest.raises(anthropic.NotFoundError) as err:
            review.cases.retrieve("rvc_missing")
        assert err.value.body["error"]["message"] == "Review case not found: rvc_missing"  # type: ignore[index]
        with pytest.raises(anthropic.NotFoundError):
            review.cases.respond("rvc_missing", determination="no_violation")
        with pytest.raises(anthropic.NotFoundError) as err:
            review.items.retrieve("msg_missing")
        assert err.value.body["error"]["message"] == "Review item not found: msg_missing"  # type: ignore[index]


def test_added_cases_are_listed_got_and_their_items_read() -> None:
    with MockServer() as server:
        ids = _seed(server.state.resources)
        review = strict_client(server).beta.compliance.review
        assert [c.id for c in review.cases.list()] == ids[::-1]  # newest first
        case = review.cases.retrieve(ids[0])
        assert case.type == "compliance_review_case" and case.status.type == "open"
        assert case.policy_categories == ["fraud", "io"] and case.enforcement_action is None
        assert [t.item_id for t in case.transcripts] == ["msg_0a", "msg_0b"]
        assert case.transcripts[0].user_profile_id == "uprof_1"
        item = review.items.retrieve("msg_0a")
        assert item.type == "compliance_review_item" and item.read_reason.type == "safeguards_review"
        assert item.details.content is not None and item.details.content.request["max_tokens"] == 8
        assert item.details.content.response is None and item.content_expires_at > item.created_at
        bare = review.items.retrieve("msg_1a").details
        assert bare.content is None and bare.content_unavailable_reason is not None
        assert bare.content_unavailable_reason.type == "not_captured"


def test_case_lists_filter_order_and_page() -> None:
    with MockServer() as server:
        ids = _seed(server.state.resources, 5)
        cases = strict_client(server).beta.compliance.review.cases
        first = cases.list(limit=2)
        assert [c.id for c in first.data] == [ids[4], ids[3]] and first.next_page
        assert [c.id for c in cases.list(limit=2)] == ids[::-1]  # every page
        assert [c.id for c in cases.list(order="asc", limit=2)] == ids
        after = datetime.fromtimestamp(T0 + 3600, timezone.utc)
        assert [c.id for c in cases.list(created_at_gt=after, order="asc")] == ids[2:]
        assert [
            c.id for c in cases.list(created_at_gte=after, created_at_lt=after.replace(hour=3), order="asc")
        ] == ids[1:3]
        assert [c.id for c in cases.list(user_profile_id="uprof_1")] == [ids[0]]
        assert cases.list(user_profile_id="uprof_other").data == []
        with pytest.raises(anthropic.BadRequestError):
            cases.list(extra_headers={"anthropic-user-profile-id": "uprof_1"})
        with pytest.raises(anthropic.BadRequestError):
            cases.list(limit=101)


def test_a_response_closes_the_case_and_a_bad_one_is_a_400() -> None:
    with MockServer() as server:
        ids = _seed(server.state.resources)
        cases = strict_client(server).beta.compliance.review.cases
        with pytest.raises(anthropic.BadRequestError) as err:
            cases.respond(ids[1], determination="violation")  # a violation names its categories
        assert err.value.body["error"]["message"].startswith("policy_categories:")  # type: ignore[index]
        with pytest.raises(anthropic.BadRequestError):
            cases.respond(
                ids[1],
                determination="no_violation",
                verdicts=[{"item_id": "msg_elsewhere", "determination": "no_violation"}],
            )
        with pytest.raises(anthropic.BadRequestError) as err:
            strict_client(server).post(
                f"/v1/compliance/review/cases/{ids[1]}/respond", body={}, cast_to=object
            )
        assert err.value.body["error"] == {  # type: ignore[index]
            "type": "invalid_request_error",
            "message": "determination: Field required",
        }
        assert cases.retrieve(ids[1]).status.type == "open"  # the refusals changed nothing
        closed = cases.respond(
            ids[1],
            determination="violation",
            policy_categories=["cyber"],
            verdicts=[{"item_id": "msg_1a", "determination": "violation", "policy_category": "cyber"}],
        )
        assert closed.status.type == "closed" and closed.status.reason.type == "responded"
        assert closed.updated_at > closed.created_at
        assert [c.id for c in cases.list(status="closed")] == [ids[1]]
        assert [c.id for c in cases.list(status="open")] == [ids[2], ids[0]]
        assert cases.list(order_by="updated_at").data[0].id == ids[1]
        with pytest.raises(anthropic.BadRequestError):
            cases.respond(ids[1], determination="no_violation")  # a closed case stays closed


def test_notices_are_listed_by_case_and_time() -> None:
    with MockServer() as server:
        resources = server.state.resources
        ids = _seed(resources)
        cr.add_notice(resources, "rvn_0", T0 + 100, case_ids=[ids[0]], respond_by=T0 + 86_400)
        cr.add_notice(resources, "rvn_1", T0 + 200, kind="warning", message="A word")
        cr.add_notice(
            resources, "rvn_2", T0 + 300, case_ids=[ids[0], ids[1]], kind="question", message="Why?"
        )
        notices = strict_client(server).beta.compliance.review.notices
        listed = notices.list()
        assert [n.id for n in listed] == ["rvn_2", "rvn_1", "rvn_0"]
        first = listed.data[-1]
        assert first.type == "compliance_review_notice" and first.kind.type == "response_requested"
        assert first.respond_by is not None and first.case_ids == [ids[0]]
        assert [n.id for n in notices.list(case_id=ids[1])] == ["rvn_2"]
        assert [n.id for n in notices.list(order="asc", limit=1)] == ["rvn_0", "rvn_1", "rvn_2"]
        when = datetime.fromtimestamp(T0 + 200, timezone.utc)
        assert [n.id for n in notices.list(created_at_lte=when)] == ["rvn_1", "rvn_0"]
        case = strict_client(server).beta.compliance.review.cases.retrieve(ids[0])
        assert case.updated_at == datetime.fromtimestamp(T0 + 300, timezone.utc)  # a notice changes it


def test_the_async_sdk_reads_and_responds() -> None:
    async def run(url: str) -> None:
        client = anthropic.AsyncAnthropic(
            base_url=url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        )
        review = client.beta.compliance.review
        assert [c.id async for c in review.cases.list()] == ["rvc_0"]
        assert (await review.cases.retrieve("rvc_0")).status.type == "open"
        assert (await review.items.retrieve("msg_0b")).id == "msg_0b"
        assert [n.id async for n in review.notices.list()] == []
        done = await review.cases.respond("rvc_0", determination="no_violation")
        assert done.status.type == "closed"
        with pytest.raises(anthropic.NotFoundError):
            await review.items.retrieve("msg_missing")

    with MockServer() as server:
        _seed(server.state.resources, 1)
        asyncio.run(run(server.url))


def test_a_rule_on_the_review_paths_is_retried_by_the_sdk() -> None:
    scenario = {
        "name": "review-flaky",
        "description": "the first review call is refused",
        "rules": [
            {
                "match": {"path": "/v1/compliance/review/*"},
                "trigger": {"sequence": [{"error": {"status": 529, "retry_after_ms": 1}}, "ok"]},
            }
        ],
    }
    with MockServer(scenario=scenario) as server:
        _seed(server.state.resources, 1)
        done = strict_client(server, 2).beta.compliance.review.cases.respond(
            "rvc_0", determination="no_violation"
        )
        assert done.status.type == "closed"
        entries = [e for e in server.journal.entries() if e.path.endswith("/respond")]
        assert [e.status for e in entries] == [529, 200] and [e.retry_count for e in entries] == [0, 1]


def test_reset_forgets_the_cases() -> None:
    with MockServer() as server:
        _seed(server.state.resources)
        server.reset()
        review = strict_client(server).beta.compliance.review
        assert review.cases.list().data == []
        with pytest.raises(anthropic.NotFoundError):
            review.items.retrieve("msg_0a")


def test_add_case_needs_an_item_and_a_notice_names_known_cases() -> None:
    resources = Resources()
    with pytest.raises(ValueError):
        cr.add_case(resources, "rvc_x", T0, item_ids=[])
    with pytest.raises(Exception, match="rvc_missing"):
        cr.add_notice(resources, "rvn_x", T0, case_ids=["rvc_missing"])
