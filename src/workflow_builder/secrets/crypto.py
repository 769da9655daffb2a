"""Encryption at rest for secret values: Fernet with a key derived from the app's secret.

The key comes from `WFB_ENCRYPTION_KEY` when set, else from the app secret
(`Settings.resolved_secret_key()`), through HKDF so the token-signing key and the encryption key
are never the same bytes. Each ciphertext also carries the project and name it was written for,
so a value copied into another row (or another project) fails to decrypt instead of leaking.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any
from uuid import UUID

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from workflow_builder.config import get_settings

_HKDF_SALT = b"workflow-builder"
_HKDF_INFO = b"project-secrets/fernet/v1"


class SecretDecryptionError(Exception):
    """A stored value that this key cannot decrypt, or that belongs to another row."""


@lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        key_material.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _configured_fernet() -> Fernet:
    settings = get_settings()
    if settings.encryption_key is not None:
        return _fernet(settings.encryption_key.get_secret_value())
    return _fernet(settings.resolved_secret_key())


def encrypt_value(*, project_id: UUID, name: str, value: Any) -> bytes:
    """Return the ciphertext of `value` (a string or a JSON object) bound to its row."""
    envelope = {"project_id": str(project_id), "name": name, "value": value}
    return _configured_fernet().encrypt(json.dumps(envelope).encode())


def decrypt_value(*, project_id: UUID, name: str, ciphertext: bytes) -> Any:
    """Return the value stored in `ciphertext`, checking it was written for this row."""
    try:
        envelope = json.loads(_configured_fernet().decrypt(bytes(ciphertext)))
    except InvalidToken:
        raise SecretDecryptionError(
            f"the secret {name!r} cannot be decrypted with the configured key"
        ) from None
    if envelope.get("project_id") != str(project_id) or envelope.get("name") != name:
        raise SecretDecryptionError(f"the stored value of {name!r} belongs to another secret")
    return envelope["value"]
