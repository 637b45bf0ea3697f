"""Payloads encrypted with AES-GCM before they reach Temporal (its history, its database).

Keys are base64 of 32 random bytes, from CONNECTOR_TEMPORAL_KEY (several, comma-separated:
the first encrypts, all decrypt, for rotation) or a key file (one per line). Each payload
names its key by id (the first 8 bytes of the key's SHA-256, hex), so old payloads stay
readable after a new key is put first.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import temporalio.converter
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

KEY_ENV = "CONNECTOR_TEMPORAL_KEY"
ENCODING = b"binary/connector-aes-gcm"


class KeyError_(ValueError):  # noqa: N801 - (KeyError is a builtin)
    """No key, or a key that is not base64 of 32 bytes."""


def load_keys(key_file: str | None = None) -> list[bytes]:
    texts = [t for t in os.environ.get(KEY_ENV, "").replace(",", " ").split() if t]
    if key_file:
        lines = Path(key_file).read_text(encoding="utf-8").splitlines()
        texts += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    keys = []
    for text in texts:
        try:
            key = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise KeyError_(
                f"a Temporal payload key must be base64 of 32 bytes (got {len(key)} bytes): "
                "make one with: openssl rand -base64 32"
            )
        keys.append(key)
    if not keys:
        raise KeyError_(
            f"no Temporal payload key: set {KEY_ENV} or --key-file (base64 of 32 bytes); "
            "without one, connections would reach Temporal's history in the clear"
        )
    return keys


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).hexdigest()[:16].encode("ascii")


class AesGcmCodec(PayloadCodec):
    def __init__(self, keys: Sequence[bytes]):
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self._current = key_id(keys[0])

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            nonce = os.urandom(12)
            sealed = self._keys[self._current].encrypt(nonce, payload.SerializeToString(), None)
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, "encryption-key-id": self._current},
                    data=nonce + sealed,
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)  # not ours (never encrypted)
                continue
            kid = payload.metadata.get("encryption-key-id", b"")
            cipher = self._keys.get(kid)
            if cipher is None:
                raise ValueError(f"payload encrypted with an unknown key id {kid.decode()!r}")
            plain = cipher.decrypt(payload.data[:12], payload.data[12:], None)
            out.append(Payload.FromString(plain))
        return out


def data_converter(keys: Sequence[bytes]) -> temporalio.converter.DataConverter:
    """Temporal's default converter with every payload, and failure messages, encrypted."""
    return dataclasses.replace(
        temporalio.converter.default(),
        payload_codec=AesGcmCodec(keys),
        failure_converter_class=temporalio.converter.DefaultFailureConverterWithEncodedAttributes,
    )
