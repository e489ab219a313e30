from __future__ import annotations

import msgspec
import pytest

from agentsync._errors import CorruptUpdateError
from agentsync._wire import (
    EagerPush,
    Rumor,
    SyncPush,
    SyncReply,
    SyncRequest,
    decode_message,
    encode_message,
)

MESSAGES = [
    SyncRequest(3, b"\x01\x02"),
    SyncReply(4, b"\x09", b"delta bytes"),
    SyncReply(4, b"\x09", b""),
    SyncPush(7, b"\x00\xff"),
    EagerPush(1, [Rumor(1, 0, b"a"), Rumor(5, 12, b"bb")]),
    EagerPush(2, []),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_to_an_equal_struct_of_the_same_type(message: object) -> None:
    decoded = decode_message(encode_message(message))  # type: ignore[arg-type]
    assert type(decoded) is type(message)
    assert decoded == message


def test_messages_are_tagged_so_same_shaped_messages_do_not_decode_as_each_other() -> None:
    # SyncRequest and SyncPush both carry (int, bytes): only the tag tells them apart
    assert isinstance(decode_message(encode_message(SyncPush(1, b"x"))), SyncPush)
    assert isinstance(decode_message(encode_message(SyncRequest(1, b"x"))), SyncRequest)


def test_framing_costs_a_few_bytes_over_the_payload() -> None:
    payload = b"p" * 200
    assert len(encode_message(SyncPush(3, payload))) <= len(payload) + 6
    assert len(encode_message(SyncRequest(3, b"v" * 10))) <= 10 + 6


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # never-used msgpack byte
        b"\x92\x63\x01",  # unknown tag 99
        msgspec.msgpack.encode([1, "not an int", b"v"]),  # right tag, wrong field type
        msgspec.msgpack.encode({"src": 1}),  # a map, not a tagged array
        msgspec.msgpack.encode([4, 1, [[1, 2]]]),  # rumor missing its blob
    ],
)
def test_undecodable_bytes_raise_corrupt_update_error(data: bytes) -> None:
    with pytest.raises(CorruptUpdateError, match="wire message"):
        decode_message(data)
