"""The simulator's wire schema: every message replicas exchange, msgpack-encoded.

Each message is a tagged, array-encoded `msgspec.Struct` (the tag is a small int, fields
go in order), so a message costs a few bytes of framing on top of its payload. Byte counts
in the benchmark are `len(encode(msg))`. The encoder and decoder are built once.

Anti-entropy is push-pull over opaque version digests:

1. ``SyncRequest``  A -> B: A's digest.
2. ``SyncReply``    B -> A: what A lacks (``updates``, ``b""`` for nothing) and B's digest.
3. ``SyncPush``     A -> B: what B lacks, only when there is something.

``EagerPush`` carries fresh updates along the eager-push tree as ``Rumor``s, each with the
id its origin gave it, so a replica forwards a rumor once and never back to its sender.
"""

from __future__ import annotations

from typing import Final, TypeAlias

import msgspec

from ._errors import CorruptUpdateError

__all__ = [
    "EagerPush",
    "Message",
    "Rumor",
    "SyncPush",
    "SyncReply",
    "SyncRequest",
    "decode_message",
    "encode_message",
]


class SyncRequest(msgspec.Struct, tag=1, array_like=True, frozen=True):
    """Anti-entropy opener: "this is what I hold"."""

    src: int
    version: bytes


class SyncReply(msgspec.Struct, tag=2, array_like=True, frozen=True):
    """What the requester lacks, plus the replier's digest so the requester can push back."""

    src: int
    version: bytes
    updates: bytes


class SyncPush(msgspec.Struct, tag=3, array_like=True, frozen=True):
    """The requester's half of push-pull: what the replier lacks."""

    src: int
    updates: bytes


class Rumor(msgspec.Struct, array_like=True, frozen=True):
    """One fresh update blob, identified by (origin replica, origin's sequence number)."""

    origin: int
    seq: int
    blob: bytes


class EagerPush(msgspec.Struct, tag=4, array_like=True, frozen=True):
    """Fresh updates pushed along the eager tree; batched per flush."""

    src: int
    rumors: list[Rumor]


Message: TypeAlias = SyncRequest | SyncReply | SyncPush | EagerPush

_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final[msgspec.msgpack.Decoder[Message]] = msgspec.msgpack.Decoder(Message)


def encode_message(message: Message) -> bytes:
    """The msgpack bytes of `message` (its size is what the network is charged)."""
    return _ENCODER.encode(message)


def decode_message(data: bytes) -> Message:
    """Decode one message; `CorruptUpdateError` (naming what was wrong) on bad bytes."""
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CorruptUpdateError(f"undecodable wire message ({len(data)} bytes): {exc}") from exc
