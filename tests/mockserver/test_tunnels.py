"""MCP tunnels (``client.beta.tunnels``) and their CA certificates through the real SDK: create,
list in cursor pages (archived ones only on request), get, archive, a connector token shown only
by reveal and rotate (a rotation changes it), certificates' fingerprints and expiry read from
the PEM, the real 404s and 400s, and faults on the family's paths."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import datetime, timezone

import anthropic
import pytest
from tests.support import TEST_KEY, strict_client

from mockserver import MockServer
from mockserver.wire import tunnels as tn

# two self-signed P-256 CA certificates, made once with openssl for these tests
CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBjjCCATWgAwIBAgIUTGO36da42qhFRhtnWdETNMJXqGYwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSYnVzeXNpZ25hbCB0ZXN0IENBMB4XDTI2MTIwNTA3MzI1OVoX
DTM2MTIwMjA3MzI1OVowHTEbMBkGA1UEAwwSYnVzeXNpZ25hbCB0ZXN0IENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEK/OOOjBsXhDTpHxUIBub8FU5UHcNzZZZ
2df/HsSP1/i1H6oqDrOw3st59tsIzpH7HQfaxJj/M/1dkWKwbympwaNTMFEwHQYD
VR0OBBYEFEb5BxpyiOt9oIcaW8zIx3GF+g2KMB8GA1UdIwQYMBaAFEb5BxpyiOt9
oIcaW8zIx3GF+g2KMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIg
fhqaS12aF1D9cznFkHR3nwiXMc5rngvC14PtSHAxD74CID2Qug8huj6hoyzHtopq
JMd51bzW2Xpyow0RBqnEAzep
-----END CERTIFICATE-----
"""
CA_FINGERPRINT = (
    "a25c004ab56d3c2a49226a3ce9b56b8606d8702cd17ad9a779778a7f873560b5"  # openssl x509 -fingerprint
)
CA_NOT_AFTER = datetime(2036, 12, 2, 7, 32, 59, tzinfo=timezone.utc)
SECOND_PEM = """-----BEGIN CERTIFICATE-----
MIIBlDCCATmgAwIBAgIUY8xnOsQZo6CuLA9wmzw53BEMCNQwCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUYnVzeXNpZ25hbCBzZWNvbmQgQ0EwHhcNMjYxMjA1MDczMjU5
WhcNMjcxMjA1MDczMjU5WjAfMR0wGwYDVQQDDBRidXN5c2lnbmFsIHNlY29uZCBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJl2TCvpjC/enxYxNNCOIg3fgM+0
ZEz7iEwBSJEA5bxtot11cOHdRiRbCRlgxzEk7KKCIiPnQ9/cjNR8v7zV9vKjUzBR
MB0GA1UdDgQWBBRQVlgpOKvFkhi6grNhOa2SNTLpxDAfBgNVHSMEGDAWgBRQVlgp
OKvFkhi6grNhOa2SNTLpxDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kA
MEYCIQC6gDLRIWVyfxjO/934wPJXJLga34D47uB06nrw0s6xswIhANScKZqkLfnZ
cGy6h2Zr5u6b3ZcLLTX87AnsrN7+UCLI
-----END CERTIFICATE-----
"""


def test_a_tunnel_is_made_got_listed_and_archived() -> None:
    with MockServer() as server:
        client = strict_client(server)
        tunnel = client.beta.tunnels.create(display_name="office")
        assert tunnel.id.startswith("tnl_") and tunnel.type == "tunnel" and tunnel.archived_at is None
        assert tunnel.display_name == "office" and tunnel.domain.endswith(".tunnels.busysignal.invalid")
        other = client.beta.tunnels.create()
        assert other.display_name is None and other.domain != tunnel.domain
        assert client.beta.tunnels.retrieve(tunnel.id) == tunnel
        assert [t.id for t in client.beta.tunnels.list()] == [other.id, tunnel.id]  # newest first
        archived = client.beta.tunnels.archive(tunnel.id)
        assert archived.archived_at is not None and archived.id == tunnel.id
        assert client.beta.tunnels.archive(tunnel.id).archived_at == archived.archived_at
        assert [t.id for t in client.beta.tunnels.list()] == [other.id]
        assert [t.id for t in client.beta.tunnels.list(include_archived=True)] == [other.id, tunnel.id]
        for call in (
            client.beta.tunnels.retrieve,
            client.beta.tunnels.archive,
            client.beta.tunnels.reveal_token,
        ):
            with pytest.raises(anthropic.NotFoundError) as err:
                call("tnl_missing")
            assert err.value.body["error"]["message"] == "Tunnel not found: tnl_missing"  # type: ignore[index]


def test_the_token_is_revealed_the_same_until_rotated() -> None:
    with MockServer() as server:
        client = strict_client(server)
        tunnel = client.beta.tunnels.create()
        assert "tunnel_token" not in client.beta.tunnels.retrieve(tunnel.id).model_dump()
        first = client.beta.tunnels.reveal_token(tunnel.id)
        assert first.type == "tunnel_token" and first.id.startswith(tn.TOKEN_PREFIX) and first.tunnel_token
        assert client.beta.tunnels.reveal_token(tunnel.id) == first
        rotated = client.beta.tunnels.rotate_token(tunnel.id, reason="leaked in a log")
        assert rotated.id != first.id and rotated.tunnel_token != first.tunnel_token
        assert client.beta.tunnels.reveal_token(tunnel.id) == rotated
        assert client.beta.tunnels.rotate_token(tunnel.id).id != rotated.id  # the reason is optional
        with pytest.raises(anthropic.BadRequestError):
            client.beta.tunnels.rotate_token(tunnel.id, extra_body={"reason": 7})
        with pytest.raises(anthropic.NotFoundError):
            client.beta.tunnels.rotate_token("tnl_missing")


def test_certificates_are_registered_listed_got_and_archived() -> None:
    with MockServer() as server:
        client = strict_client(server)
        tunnel = client.beta.tunnels.create()
        certs = client.beta.tunnels.certificates
        cert = certs.create(tunnel.id, ca_certificate_pem=CA_PEM)
        assert (
            cert.id.startswith("tcrt_") and cert.type == "tunnel_certificate" and cert.tunnel_id == tunnel.id
        )
        assert (
            cert.fingerprint == CA_FINGERPRINT
            and cert.expires_at == CA_NOT_AFTER
            and cert.archived_at is None
        )
        second = certs.create(tunnel.id, ca_certificate_pem=SECOND_PEM)
        assert certs.retrieve(cert.id, tunnel_id=tunnel.id) == cert
        assert [c.id for c in certs.list(tunnel.id)] == [second.id, cert.id]
        gone = certs.archive(cert.id, tunnel_id=tunnel.id)
        assert gone.archived_at is not None
        assert [c.id for c in certs.list(tunnel.id)] == [second.id]
        assert [c.id for c in certs.list(tunnel.id, include_archived=True)] == [second.id, cert.id]
        with pytest.raises(anthropic.NotFoundError) as err:
            certs.retrieve("tcrt_missing", tunnel_id=tunnel.id)
        assert err.value.body["error"]["message"] == "Tunnel certificate not found: tcrt_missing"  # type: ignore[index]
        with pytest.raises(anthropic.NotFoundError):
            certs.list("tnl_missing")
        with pytest.raises(anthropic.NotFoundError):
            certs.archive(cert.id, tunnel_id="tnl_missing")


def test_a_pem_the_api_refuses_is_a_400_naming_the_field() -> None:
    with MockServer() as server:
        client = strict_client(server)
        tunnel = client.beta.tunnels.create()
        certs = client.beta.tunnels.certificates
        with pytest.raises(anthropic.BadRequestError) as err:
            client.post(
                f"/v1/tunnels/{tunnel.id}/certificates",
                body={},
                cast_to=object,
                options={"headers": {"anthropic-beta": tn.BETA}},
            )
        assert err.value.body["error"] == {  # type: ignore[index]
            "type": "invalid_request_error",
            "message": "ca_certificate_pem: Field required",
        }
        for bad in (
            CA_PEM + SECOND_PEM,
            CA_PEM + "-----BEGIN PRIVATE KEY-----\n",
            "not a pem",
            CA_PEM.replace("MIIB", "MIIC"),
        ):
            with pytest.raises(anthropic.BadRequestError) as err:
                certs.create(tunnel.id, ca_certificate_pem=bad)
            assert err.value.body["error"]["message"].startswith("ca_certificate_pem:")  # type: ignore[index]
        with pytest.raises(anthropic.BadRequestError):
            client.beta.tunnels.create(display_name="")
        assert certs.list(tunnel.id).data == []


def test_without_the_beta_header_a_tunnels_route_is_a_400() -> None:
    with MockServer() as server:
        with pytest.raises(anthropic.BadRequestError) as err:
            strict_client(server).get("/v1/tunnels", cast_to=object)
        assert tn.BETA in err.value.body["error"]["message"]  # type: ignore[index]


def test_tunnels_and_certificates_list_in_cursor_pages() -> None:
    with MockServer() as server:
        client = strict_client(server)
        made = [client.beta.tunnels.create(display_name=f"t{i}") for i in range(5)]
        first = client.beta.tunnels.list(limit=2)
        assert [t.id for t in first.data] == [made[4].id, made[3].id] and first.next_page
        assert [t.id for t in client.beta.tunnels.list(limit=2)] == [t.id for t in reversed(made)]
        certs = client.beta.tunnels.certificates
        kept = [certs.create(made[0].id, ca_certificate_pem=p) for p in (CA_PEM, SECOND_PEM, CA_PEM)]
        assert [c.id for c in certs.list(made[0].id, limit=1)] == [c.id for c in reversed(kept)]


def test_the_not_after_of_a_der_is_read_and_junk_is_refused() -> None:
    der = base64.b64decode("".join(CA_PEM.splitlines()[1:-1]))
    assert tn.not_after(der) == CA_NOT_AFTER
    assert hashlib.sha256(der).hexdigest() == CA_FINGERPRINT
    for junk in (b"", b"\x30", b"\x30\x85\x00\x00\x00\x00\x00", b"\x02\x01\x00", der[:40]):
        with pytest.raises(ValueError):
            tn.not_after(junk)


def test_the_async_sdk_makes_a_tunnel_and_a_certificate() -> None:
    async def run(url: str) -> None:
        client = anthropic.AsyncAnthropic(
            base_url=url, api_key=TEST_KEY, max_retries=0, _strict_response_validation=True
        )
        tunnel = await client.beta.tunnels.create(display_name="async")
        assert (await client.beta.tunnels.retrieve(tunnel.id)).display_name == "async"
        assert [t.id async for t in client.beta.tunnels.list()] == [tunnel.id]
        token = await client.beta.tunnels.reveal_token(tunnel.id)
        assert (await client.beta.tunnels.rotate_token(tunnel.id)).tunnel_token != token.tunnel_token
        cert = await client.beta.tunnels.certificates.create(tunnel.id, ca_certificate_pem=CA_PEM)
        assert (await client.beta.tunnels.certificates.retrieve(cert.id, tunnel_id=tunnel.id)) == cert
        assert [c.id async for c in client.beta.tunnels.certificates.list(tunnel.id)] == [cert.id]
        assert (await client.beta.tunnels.certificates.archive(cert.id, tunnel_id=tunnel.id)).archived_at
        assert (await client.beta.tunnels.archive(tunnel.id)).archived_at
        with pytest.raises(anthropic.NotFoundError):
            await client.beta.tunnels.retrieve("tnl_missing")

    with MockServer() as server:
        asyncio.run(run(server.url))


def test_a_rule_on_the_tunnels_path_is_retried_and_a_refusal_keeps_nothing() -> None:
    scenario = {
        "name": "tunnels-flaky",
        "description": "the first tunnels calls are refused",
        "rules": [
            {
                "match": {"path": "/v1/tunnels*"},
                "trigger": {"sequence": [{"error": {"status": 529, "retry_after_ms": 1}}, "ok"]},
            }
        ],
    }
    with MockServer(scenario=scenario) as server:
        made = strict_client(server, 2).beta.tunnels.create()
        entries = [e for e in server.journal.entries() if e.path == "/v1/tunnels"]
        assert [e.status for e in entries] == [529, 200] and [e.retry_count for e in entries] == [0, 1]
        assert [t.id for t in strict_client(server).beta.tunnels.list()] == [made.id]  # one tunnel, not two


def test_without_retries_the_overload_reaches_the_caller() -> None:
    scenario = {
        "name": "tunnels-down",
        "description": "tunnels refused",
        "rules": [{"match": {"path": "/v1/tunnels*"}, "fault": 529}],
    }
    with MockServer(scenario=scenario) as server, pytest.raises(anthropic.OverloadedError):
        strict_client(server).beta.tunnels.list()


def test_reset_forgets_the_tunnels() -> None:
    with MockServer() as server:
        client = strict_client(server)
        tunnel = client.beta.tunnels.create()
        server.reset()
        assert client.beta.tunnels.list().data == []
        with pytest.raises(anthropic.NotFoundError):
            client.beta.tunnels.reveal_token(tunnel.id)
