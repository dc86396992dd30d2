"""The C2PA signing credential: a real certificate chain in production, a generated development chain elsewhere.

`ATELIER_C2PA_CERT` (the PEM chain, leaf first) and `ATELIER_C2PA_KEY` (the PEM private key) hold either the
PEM text or a path to a PEM file. Without them, outside production, a development chain is generated once
in the data dir (like the development JWT key). It meets the C2PA certificate profile (EC P-256 CA; a leaf
with a critical digitalSignature key usage, an extended key usage and key identifiers), so it signs and
validates, but no reader trusts it. Production refuses to run without a real one, and refuses this one.
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from config.settings import Settings, is_placeholder
from config.values import value

DEV_ORGANIZATION = "Atelier development (untrusted)"
DEV_FILE = "dev-signer.pem"
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----\s*", re.DOTALL)


class SigningCredentialError(RuntimeError):
    """The configured signing certificate or key is missing, unreadable or not allowed here."""


@value
class Credential:
    """A PEM chain (leaf first) and its PEM private key."""

    chain_pem: bytes
    key_pem: bytes

    @property
    def leaf(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.chain_pem)[0]

    @property
    def is_development(self) -> bool:
        names = self.leaf.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return any(attr.value == DEV_ORGANIZATION for attr in names)


def credential_for(settings: Settings) -> Credential:
    """The credential the settings name, or the data dir's development chain (generated on first use)."""
    if not is_placeholder(settings.c2pa_cert) and not is_placeholder(settings.c2pa_key):
        credential = Credential(_pem(settings.c2pa_cert or ""), _pem(settings.c2pa_key or ""))
        _check(credential)
        if settings.is_production and credential.is_development:
            raise SigningCredentialError("production refuses the development C2PA chain")
        return credential
    if settings.is_production:
        raise SigningCredentialError("production needs ATELIER_C2PA_CERT and ATELIER_C2PA_KEY")
    return development_credential(settings.data_dir / "c2pa")


def _pem(value: str) -> bytes:
    """PEM text as given, or the contents of the file it names."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        return text.encode()
    try:
        return Path(text).expanduser().read_bytes()
    except OSError as exc:
        raise SigningCredentialError(f"cannot read the C2PA PEM file ({type(exc).__name__})") from exc


def _check(credential: Credential) -> None:
    try:
        certificates = x509.load_pem_x509_certificates(credential.chain_pem)
        key = serialization.load_pem_private_key(credential.key_pem, password=None)
    except ValueError as exc:
        raise SigningCredentialError("the C2PA certificate or key is not valid PEM") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SigningCredentialError("the C2PA key must be an EC P-256 key (es256)")
    if certificates[0].public_key() != key.public_key():
        raise SigningCredentialError("the C2PA key does not belong to the first certificate of the chain")


def development_credential(folder: Path) -> Credential:
    """The development chain in `folder`, generated and written atomically the first time."""
    path = folder / DEV_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        key_pem, chain_pem = _generate_development_chain()
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".dev-signer-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_pem + chain_pem)
        os.replace(tmp, path)  # two processes racing each write a whole file; either one wins
    blocks = [match.group(0) for match in _PEM_BLOCK.finditer(path.read_bytes())]
    key_pem = b"".join(block for block in blocks if b"PRIVATE KEY" in block)
    chain_pem = b"".join(block for block in blocks if b"CERTIFICATE" in block)
    return Credential(chain_pem, key_pem)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEV_ORGANIZATION),
        ]
    )


def _key_usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _generate_development_chain() -> tuple[bytes, bytes]:
    """(leaf key PEM, leaf + CA certificate PEM) meeting the C2PA certificate profile."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Atelier development CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("Atelier development signer"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key_pem, leaf.public_bytes(pem) + ca.public_bytes(pem)
