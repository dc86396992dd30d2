"""A real SMTP server in-process on loopback (aiosmtpd), with TLS from a self-signed certificate made here.

`smtp_server()` speaks STARTTLS (and requires it before AUTH or mail); `smtp_server(implicit_tls=True)` is an
SMTPS server. Both check a login and record every accepted message; `fail_rcpt` scripts the replies to the
next RCPT commands ("451 ..." transient, "550 ..." permanent), as a provider would answer them.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER = "mailer"
PASSWORD = "p@ss word"  # percent-encoded in the URL: p%40ss%20word
URL_CREDENTIALS = "mailer:p%40ss%20word"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost and its key, as PEM files in `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Recorder:
    """The aiosmtpd handler: scripted RCPT replies, then every accepted message kept in order."""

    received: list[Received] = field(default_factory=list)
    rcpt_script: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        with self.lock:
            scripted = self.rcpt_script.pop(0) if self.rcpt_script else None
        if scripted is not None:
            return scripted
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # aiosmtpd answers 235 or 535 itself


@dataclass
class SmtpServer:
    host: str
    port: int
    recorder: Recorder
    client_context: ssl.SSLContext
    implicit_tls: bool
    ca_file: Path  # the self-signed certificate, to trust through ATELIER_SMTP_CA_FILE

    @property
    def url(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"{scheme}://{URL_CREDENTIALS}@{self.host}:{self.port}"

    @property
    def received(self) -> list[Received]:
        with self.recorder.lock:
            return list(self.recorder.received)

    def fail_rcpt(self, *replies: str) -> None:
        with self.recorder.lock:
            self.recorder.rcpt_script.extend(replies)


def _free_port() -> int:
    """aiosmtpd checks it is up by connecting to the port it was given, so it needs a real one, not 0."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def smtp_server(folder: Path, *, implicit_tls: bool = False) -> Iterator[SmtpServer]:
    cert, key = make_certificate(folder)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    recorder = Recorder()
    # aiosmtpd knows only STARTTLS as "TLS on" for AUTH; an SMTPS connection is TLS from its first byte.
    tls: dict[str, Any] = (
        {"ssl_context": server_context, "auth_require_tls": False}
        if implicit_tls
        else {"tls_context": server_context, "require_starttls": True, "auth_require_tls": True}
    )
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=_free_port(),
        authenticator=_authenticate,
        auth_required=True,
        # PLAIN only: after a refused PLAIN, smtplib falls back to LOGIN, which this server lets time out
        auth_exclude_mechanism=["LOGIN"],
        **tls,
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, recorder, client_context, implicit_tls, cert)
    finally:
        controller.stop()
