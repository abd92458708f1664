"""The secret behind signed continuation tokens (``functions.pagination``).

Why a setting and not a per-process random key: every function instance must accept the
tokens the others issued, so the secret is shared configuration. Production must set
``<prefix>PAGING_SECRET`` (a Key Vault reference); asking for the secret without it is a
``ConfigError`` naming the variable, never a silently weaker key.

Development needs no setting: the secret lives next to the embedded store
(``<data_dir>/paging-secret``, 32 random bytes, mode 0600), so tokens survive a devhost
restart and every process on that data directory agrees. The file appears atomically
(written under a temporary name, then hard-linked into place), so a concurrent reader
never sees it half-written.

This module only produces the secret; ``functions`` turns it into the signing key with
``derive_key`` (shared never imports functions).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Final

from shared.config import ConfigError, Settings
from shared.product import product_info

SECRET_FILE: Final = "paging-secret"  # noqa: S105 - a file name, not a secret
SECRET_BYTES: Final = 32


def paging_secret(settings: Settings) -> bytes:
    """The configured secret; in development without one, the data directory's own."""
    if settings.paging_secret:
        return settings.paging_secret.encode("utf-8")
    if not settings.is_development:
        raise ConfigError(f"{product_info().env_var_prefix}PAGING_SECRET is required in production "
                          "(the same value on every instance)")
    return data_dir_secret(settings.data_dir)


def data_dir_secret(data_dir: Path) -> bytes:
    """``<data_dir>/paging-secret``, created on first use with 32 random bytes."""
    path = Path(data_dir) / SECRET_FILE
    if not path.exists():
        _create_atomically(path)
    secret = path.read_bytes()
    if len(secret) < SECRET_BYTES:  # a hand-edited or truncated file: refuse, do not guess
        raise ConfigError(f"{path} holds no usable paging secret; delete it to get a new one")
    return secret


def _create_atomically(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{SECRET_FILE}.", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(SECRET_BYTES))
        with contextlib.suppress(FileExistsError):  # another process won the race: use its file
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
