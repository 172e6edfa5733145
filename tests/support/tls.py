"""A throw-away PKI for TLS tests: :class:`TestPKI` (a CA, a server and a client certificate).

Made with trustme, written as PEM files under a directory, so worker and
relay processes get them by path like in production::

    pki = TestPKI.create(tmp_path)
    proxy = TcpProxy(host, port, ssl=pki.server_context(require_client_cert=True))
    env = {"CQRS_WORKER_KAFKA_SSL_CAFILE": str(pki.ca_file), ...}

The server certificate is for ``127.0.0.1`` and ``localhost``. The client key
is written encrypted with :attr:`TestPKI.key_password` (the password is the
one secret the tests pass through a ``_FILE`` variable).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization

__all__ = ["TestPKI"]


@dataclass(frozen=True)
class TestPKI:
    """PEM files of one CA, a server certificate it signed, and a client certificate."""

    __test__ = False  # not a test class, despite the name

    directory: Path
    ca: trustme.CA
    server: trustme.LeafCert
    key_password: str

    @classmethod
    def create(cls, directory: Path, *, key_password: str = "key-pass-3f9c") -> TestPKI:
        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        client = ca.issue_cert("cqrs-worker-client@example.test")
        ca.cert_pem.write_to_path(str(directory / "ca.pem"))
        client.cert_chain_pems[0].write_to_path(str(directory / "client.pem"))
        key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
        encrypted = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(key_password.encode()),
        )
        (directory / "client.key").write_bytes(encrypted)
        (directory / "client.key.password").write_text(key_password + "\n")
        return cls(directory=directory, ca=ca, server=server, key_password=key_password)

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def client_cert_file(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key_file(self) -> Path:
        """The client key, encrypted with :attr:`key_password`."""
        return self.directory / "client.key"

    @property
    def key_password_file(self) -> Path:
        """:attr:`key_password` and a newline, as a Kubernetes secret mount would hold it."""
        return self.directory / "client.key.password"

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        """The server side: presents the server certificate; may require a client one."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server.configure_cert(context)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            self.ca.configure_trust(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client trusting this CA and presenting the client certificate."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(
            str(self.client_cert_file), str(self.client_key_file), password=self.key_password
        )
        return context
