"""Agent-info records, the peer directory and the bootstrap service.

Records that are unsigned, mis-signed, altered or expired never get into a directory, the
bootstrap's or a conductor's; the newest record per (DNA, agent) wins.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from nacl.signing import SigningKey

from zomehost.core.clock import now_micros
from zomehost.core.codec import pack, pack_canonical, unpack
from zomehost.core.hash import AgentPubKey, DnaHash
from zomehost.network.agent_info import (
    MAX_CLOCK_SKEW_US,
    MAX_TTL_US,
    SIGNATURE_LABEL,
    AgentInfo,
    SignedAgentInfo,
    verify_agent_info,
)
from zomehost.network.bootstrap import BootstrapClient, BootstrapServer
from zomehost.network.directory import Directory
from zomehost.network.errors import AgentInfoError, PeerUnreachable

DNA = DnaHash.from_core(b"\x01" * 32)
OTHER_DNA = DnaHash.from_core(b"\x02" * 32)
TID = b"\x07" * 32


def signed(key: SigningKey | None = None, **kw: Any) -> SignedAgentInfo:
    key = key or SigningKey.generate()
    dna = kw.pop("dna", DNA)
    return AgentInfo.create(key, dna, kw.pop("address", "127.0.0.1:4000"), TID, **kw)


def resign(fields: dict[str, Any], key: SigningKey) -> dict[str, bytes]:
    data = pack_canonical(fields)
    return {"info": data, "signature": bytes(key.sign(SIGNATURE_LABEL + data).signature)}


def fields_of(record: SignedAgentInfo) -> dict[str, Any]:
    return dict(unpack(record.data))


# -- records ----------------------------------------------------------------------------------


def test_a_signed_record_round_trips_through_wire_and_text() -> None:
    key = SigningKey.generate()
    record = signed(key, ttl_s=60)
    assert record.info.agent.ed25519 == bytes(key.verify_key)
    again = verify_agent_info(unpack(pack(record.to_wire())))
    assert again == record
    assert SignedAgentInfo.from_text(record.to_text()) == record


def test_unsigned_mis_signed_and_altered_records_are_refused() -> None:
    key = SigningKey.generate()
    record = signed(key)
    with pytest.raises(AgentInfoError, match="unsigned"):
        verify_agent_info({"info": record.data})
    with pytest.raises(AgentInfoError, match="unsigned"):
        verify_agent_info({"info": record.data, "signature": b""})
    # Signed by another key than the agent it names.
    with pytest.raises(AgentInfoError, match="not signed by that agent"):
        verify_agent_info(resign(fields_of(record), SigningKey.generate()))
    # The agent's own signature, but over other bytes (address changed afterwards).
    altered = fields_of(record) | {"address": "10.0.0.1:4000"}
    with pytest.raises(AgentInfoError, match="not signed by that agent"):
        verify_agent_info({"info": pack_canonical(altered), "signature": record.signature})
    # A signature without the domain label is not valid for a record.
    raw_sig = bytes(key.sign(record.data).signature)
    with pytest.raises(AgentInfoError, match="not signed"):
        verify_agent_info({"info": record.data, "signature": raw_sig})
    # Signing a record for someone else's agent is refused up front.
    with pytest.raises(AgentInfoError):
        AgentInfo(
            AgentPubKey.from_core(b"\x05" * 32),
            DNA,
            "h:1",
            TID,
            1,
            2,
        ).sign(key)


def test_expired_and_badly_dated_records_are_refused() -> None:
    key = SigningKey.generate()
    now = now_micros()
    old = signed(key, ttl_s=10, now=now - 20_000_000)
    with pytest.raises(AgentInfoError, match="expired"):
        verify_agent_info(old.to_wire())
    assert old.expired()
    future = signed(key, ttl_s=10, now=now + MAX_CLOCK_SKEW_US + 60_000_000)
    with pytest.raises(AgentInfoError, match="future"):
        verify_agent_info(future.to_wire())
    too_long = fields_of(signed(key)) | {"expires_at": now + MAX_TTL_US + 10_000_000}
    with pytest.raises(AgentInfoError, match="validity"):
        verify_agent_info(resign(too_long, key))


@pytest.mark.parametrize(
    "change",
    [
        {"address": "no-port"},
        {"address": ""},
        {"address": "h:99999"},
        {"transport_id": b"short"},
        {"agent": b"\x00" * 39},
        {"dna": "text"},
        {"signed_at": "yesterday"},
    ],
)
def test_malformed_records_are_refused(change: dict[str, Any]) -> None:
    key = SigningKey.generate()
    with pytest.raises(AgentInfoError):
        verify_agent_info(resign(fields_of(signed(key)) | change, key))


@pytest.mark.parametrize("wire", [None, 5, [], {"info": "x", "signature": b"s" * 64}, {"x": 1}])
def test_non_records_are_refused(wire: Any) -> None:
    with pytest.raises(AgentInfoError):
        verify_agent_info(wire)


# -- the directory ----------------------------------------------------------------------------


def test_directory_keeps_the_newest_record_and_forgets_expired_ones() -> None:
    d = Directory()
    key = SigningKey.generate()
    now = now_micros()
    first = signed(key, now=now - 1_000_000, address="127.0.0.1:1")
    second = signed(key, now=now, address="127.0.0.1:2")
    assert d.put(first)
    assert d.put(second)
    assert not d.put(first)  # older: ignored
    got = d.get(DNA, second.info.agent)
    assert got is not None and got.info.address == "127.0.0.1:2"
    assert d.get(OTHER_DNA, second.info.agent) is None
    # Per DNA.
    other = signed(key, dna=OTHER_DNA)
    assert d.put(other)
    assert [r.info.dna_hash for r in d.for_dna(OTHER_DNA)] == [OTHER_DNA]
    assert len(d) == 2
    # Expiry.
    short = signed(SigningKey.generate(), ttl_s=1, now=now)
    assert d.put(short)
    assert d.get(DNA, short.info.agent, now=now + 2_000_000) is None
    assert d.prune(now + 2_000_000) == 0  # get() already dropped it
    assert len(d) == 2


def test_directory_put_wire_drops_bad_records() -> None:
    d = Directory()
    key = SigningKey.generate()
    good = signed(key)
    bad = resign(fields_of(signed(key)), SigningKey.generate())
    expired = signed(ttl_s=10, now=now_micros() - 20_000_000).to_wire()
    kept = d.put_many_wire([bad, expired, {"junk": 1}, good.to_wire()])
    assert kept == [good]
    assert len(d) == 1


def test_directory_knows_records_it_verified_byte_for_byte_only() -> None:
    d = Directory()
    key = SigningKey.generate()
    record = signed(key, ttl_s=60)
    assert d.known(record.to_wire()) is None
    d.put(record)
    assert d.known(record.to_wire()) is record
    altered = fields_of(record) | {"address": "127.0.0.1:4001"}
    forged = {"info": pack_canonical(altered), "signature": record.signature}
    assert d.known(forged) is None  # same signature, other bytes: verified (and refused)
    assert d.put_wire(forged) is None and d.get(DNA, record.info.agent) is record
    for junk in (None, [], {"signature": 5}, {"info": record.data}):
        assert d.known(junk) is None
    newer = signed(key, ttl_s=60, now=record.info.signed_at + 1)
    d.put(newer)
    assert d.known(record.to_wire()) is None and d.known(newer.to_wire()) is newer
    d.remove(DNA, newer.info.agent)
    assert d.known(newer.to_wire()) is None
    short = signed(ttl_s=10, now=now_micros() - 8_000_000)
    d.put(short)
    assert d.known(short.to_wire()) is short
    d.prune(now_micros() + 3_000_000)
    assert d.known(short.to_wire()) is None


def test_directory_is_bounded() -> None:
    d = Directory(max_per_dna=3, max_total=4)
    for _ in range(5):
        d.put(signed())
    assert len(d.for_dna(DNA)) == 3
    d.put(signed(dna=OTHER_DNA))
    assert not d.put(signed(dna=OTHER_DNA))
    assert len(d) == 4


# -- the bootstrap service --------------------------------------------------------------------


def test_bootstrap_publish_and_lookup_per_dna() -> None:
    async def main() -> None:
        server = BootstrapServer()
        url = await server.start()
        client = BootstrapClient(url)
        key_a, key_b = SigningKey.generate(), SigningKey.generate()
        a, b = signed(key_a, address="127.0.0.1:1001"), signed(key_b, address="127.0.0.1:1002")
        c = signed(key_a, dna=OTHER_DNA)
        assert await client.put([a, b, c]) == 3
        found = await client.lookup(DNA)
        assert {r.info.address for r in found} == {"127.0.0.1:1001", "127.0.0.1:1002"}
        assert [r.info.dna_hash for r in await client.lookup(OTHER_DNA)] == [OTHER_DNA]
        assert await client.lookup(DnaHash.from_core(os.urandom(32))) == []
        # A newer record replaces the older one; an older one is not accepted.
        a2 = signed(key_a, address="127.0.0.1:2001", now=now_micros() + 1000)
        assert await client.put([a2]) == 1
        assert await client.put([a]) == 0
        addrs = {r.info.address for r in await client.lookup(DNA)}
        assert addrs == {"127.0.0.1:2001", "127.0.0.1:1002"}
        await server.stop()

    asyncio.run(main())


def test_bootstrap_ignores_bad_records_and_bad_requests() -> None:
    async def main() -> None:
        server = BootstrapServer()
        url = await server.start()
        client = BootstrapClient(url)
        key = SigningKey.generate()
        bad_sig = resign(fields_of(signed(key)), SigningKey.generate())
        expired = signed(ttl_s=10, now=now_micros() - 20_000_000).to_wire()
        unsigned = {"info": signed().data}
        body = pack([bad_sig, expired, unsigned, "junk"])
        assert (await client._request("POST", "/v1/agent-infos", body, None)) == {"accepted": 0}
        assert await client.lookup(DNA) == []
        for method, path, payload, status in [
            ("POST", "/v1/agent-infos", b"\xc1", "400"),
            ("POST", "/v1/agent-infos", pack({"not": "a list"}), "400"),
            ("GET", "/v1/agent-infos/not-a-hash", b"", "400"),
            ("GET", "/v1/nothing", b"", "404"),
            ("PUT", "/v1/agent-infos", b"", "405"),
        ]:
            with pytest.raises(PeerUnreachable, match=status):
                await client._request(method, path, payload, None)
        # A malicious bootstrap cannot inject records either: the client verifies them.
        server.directory.put = lambda *a, **k: True  # type: ignore[method-assign]
        assert await client.lookup(DNA) == []
        await server.stop()
        with pytest.raises(PeerUnreachable):
            await client.lookup(DNA, timeout=1)

    asyncio.run(main())


def test_bootstrap_client_rejects_records_a_bad_server_returns() -> None:
    """A service that hands out forged or expired records: the client drops them."""

    async def main() -> None:
        key = SigningKey.generate()
        good = signed(key)
        forged = resign(fields_of(signed(key)) | {"address": "6.6.6.6:6"}, SigningKey.generate())
        expired = signed(ttl_s=10, now=now_micros() - 20_000_000).to_wire()
        body = pack([forged, expired, good.to_wire()])

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.readuntil(b"\r\n\r\n")
            w.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/msgpack\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await w.drain()
            w.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        found = await BootstrapClient(f"http://127.0.0.1:{port}").lookup(DNA)
        assert found == [good]
        server.close()

    asyncio.run(main())
