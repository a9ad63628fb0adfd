"""The agent runtime's private keys: where each agent's private_key_jwt key lives.

The IAM only ever sees the public half. A folder keeps one PEM file per agent (mode 0600);
without a folder (tests, simulations) keys live in memory for the life of the process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey


class AgentKeyStore:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._keys: dict[str, ec.EllipticCurvePrivateKey] = {}

    def location(self, agent_id: str) -> str:
        if self.folder is None:
            return "in memory (this process only)"
        return str(self.folder / f"{agent_id}.pem")

    def private_key(self, agent_id: str) -> ec.EllipticCurvePrivateKey:
        """The agent's ES256 key, created on first use."""
        if agent_id in self._keys:
            return self._keys[agent_id]
        key = self._load(agent_id)
        if key is None:
            key = self._save(agent_id, ec.generate_private_key(ec.SECP256R1()))
        self._keys[agent_id] = key
        return key

    def public_jwk(self, agent_id: str) -> dict[str, Any]:
        key = ECKey.import_key(self.private_key(agent_id).public_key())
        jwk: dict[str, Any] = dict(key.as_dict(private=False))
        jwk.update(kid=key.thumbprint(), alg="ES256", use="sig")  # RFC 7638 thumbprint
        return jwk

    def kid(self, agent_id: str) -> str:
        return str(self.public_jwk(agent_id)["kid"])

    def _load(self, agent_id: str) -> ec.EllipticCurvePrivateKey | None:
        if self.folder is None:
            return None
        path = self.folder / f"{agent_id}.pem"
        if not path.exists():
            return None
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path} does not hold an EC private key")
        return key

    def _save(self, agent_id: str, key: ec.EllipticCurvePrivateKey) -> ec.EllipticCurvePrivateKey:
        """Publish ``key`` as the agent's, or return the one another process published first.

        Processes starting together on a fresh folder race here: the key is written whole to
        a file of this process's own, then linked into place (``link`` fails if the name
        exists), so nobody ever reads a half-written key and the loser adopts the winner's.
        """
        if self.folder is None:
            return key
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{agent_id}.pem"
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = self.folder / f".{agent_id}.{os.getpid()}.{id(key):x}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                published = self._load(agent_id)
                if published is None:  # pragma: no cover - removed between link and load
                    raise
                return published
        finally:
            tmp.unlink(missing_ok=True)
        return key
