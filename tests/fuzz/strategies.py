"""Seeds and mutations: valid inputs of each boundary, damaged the ways bytes get damaged."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import strategies as st


def _apply(seed: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    data = bytearray(seed)
    for op, pos, val in edits:
        i = pos % (len(data) + 1)
        if op == 0 and data:  # flip a bit
            data[i % len(data)] ^= 1 << (val % 8)
        elif op == 1 and data:  # set a byte to an interesting value
            data[i % len(data)] = (0x00, 0xFF, 0x7F, 0x80, 0xC1, 0xDD, 0xDF, val)[val % 8] % 256
        elif op == 2:  # insert
            data[i:i] = bytes([val % 256])
        elif op == 3 and data:  # delete
            del data[i % len(data)]
        elif op == 4:  # truncate
            del data[i:]
        elif op == 5 and data:  # duplicate a slice
            j = (i + val) % (len(data) + 1)
            data[i:i] = data[min(i, j) : max(i, j)][:64]
    return bytes(data)


def mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """A seed, unchanged or with a few edits; sometimes random bytes instead."""
    edit = st.tuples(st.integers(0, 5), st.integers(0, 1 << 20), st.integers(0, 255))
    return st.one_of(
        st.builds(_apply, st.sampled_from(seeds), st.lists(edit, max_size=4)),
        st.binary(max_size=200),
    )


@functools.cache
def _signing_key() -> Any:
    import nacl.signing

    return nacl.signing.SigningKey(b"\x07" * 32)


@functools.cache
def signed_call_seed() -> tuple[bytes, bytes]:
    from zomehost.core.hash import AgentPubKey, CellId, DnaHash, HashType, dht_location
    from zomehost.core.zome_call import ZomeCallParams, sign_call

    key = _signing_key()
    vk = bytes(key.verify_key)
    agent = AgentPubKey(HashType.AGENT.value + vk + dht_location(vk))
    dna = DnaHash(HashType.DNA.value + b"\x01" * 32 + dht_location(b"\x01" * 32))
    params = ZomeCallParams(
        provenance=agent,
        cell_id=CellId(dna, agent),
        zome_name="writer",
        fn_name="create_entry",
        cap_secret=None,
        payload=b"\xa2hi",
        nonce=b"\x02" * 32,
        expires_at=2**60,
    )
    return sign_call(params, key)


@functools.cache
def agent_info_seed() -> dict[str, bytes]:
    from zomehost.core.hash import DnaHash, HashType, dht_location
    from zomehost.network.agent_info import AgentInfo

    dna = DnaHash(HashType.DNA.value + b"\x01" * 32 + dht_location(b"\x01" * 32))
    return AgentInfo.create(_signing_key(), dna, "127.0.0.1:4000", b"\x03" * 32).to_wire()


def resign(info: bytes) -> dict[str, bytes]:
    """Sign damaged info bytes with the agent's key, so the decoder sees them signed."""
    from zomehost.network.agent_info import SIGNATURE_LABEL

    return {"info": info, "signature": bytes(_signing_key().sign(SIGNATURE_LABEL + info).signature)}
