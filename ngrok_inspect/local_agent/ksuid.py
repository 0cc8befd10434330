"""KSUID ids as the ngrok agent hands them out (``airt_`` + 27 base62 characters).

A KSUID is 20 bytes: a 4-byte big-endian timestamp (seconds since 2014-05-13, the KSUID
epoch) followed by 16 random bytes, written as 27 base62 digits. Ids therefore sort by
creation second; within one second their order is random, as on the real agent.
"""

from __future__ import annotations

import os
import random
import time

KSUID_EPOCH = 1_400_000_000
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LENGTH = 27
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # two base62 digits per divmod


_MAX_PAYLOAD = (1 << 128) - 1
_SMALL_BITS = 16
_BIG_ROOM = 1 << 96
_last: list[int] = [0, 0]  # [timestamp, payload] of the previous id
# Ids are unique, not secret (the API shows them to anyone who may read it): a generator
# seeded once from the OS is enough, and costs no system call per captured request.
_RANDOM = random.Random(os.urandom(32))


def ksuid(now: float | None = None) -> str:
    """A new 27-character KSUID for time ``now`` (seconds since the Unix epoch).

    Ids made within one second get increasing payloads, so sorting ids sorts them by
    creation order (the real agent's ids only resolve to the second). An id of the same
    second steps a random part (up to 1/128) of the room left above the previous one, so
    ids still differ from about their 8th character, as random KSUIDs do, and a short
    prefix stays unique; after some thousands of ids in one second the steps become
    small (16 random bits), which leaves room for more than 2**79 further ids.
    """
    ts = int(time.time() if now is None else now) - KSUID_EPOCH
    payload = _RANDOM.getrandbits(128)
    if ts == _last[0] and payload <= _last[1]:
        room = _MAX_PAYLOAD - _last[1]
        bits = room.bit_length() - 8 if room > _BIG_ROOM else _SMALL_BITS
        payload = min(_last[1] + 1 + _RANDOM.getrandbits(bits), _MAX_PAYLOAD)
    _last[0], _last[1] = ts, payload
    value = (ts << 128) | payload
    pairs = []
    for _ in range(_LENGTH // 2):
        value, rem = divmod(value, 3844)
        pairs.append(_PAIRS[rem])
    return _ALPHABET[value] + "".join(reversed(pairs))


def ksuid_time(text: str) -> int:
    """The Unix timestamp (seconds) encoded in a KSUID (the part after any prefix)."""
    value = 0
    for ch in text.rsplit("_", 1)[-1]:
        value = value * 62 + _ALPHABET.index(ch)
    return (value >> 128) + KSUID_EPOCH


def request_id(now: float | None = None) -> str:
    """A captured-request id: ``airt_`` + KSUID."""
    return "airt_" + ksuid(now)
