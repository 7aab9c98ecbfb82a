"""A self-signed serving certificate for 127.0.0.1, made with the `openssl` command.

kubectl sends a bearer token only over TLS, so the API server serves HTTPS whenever a token is required.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from dataclasses import dataclass

SUBJECT_ALT_NAMES = "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"


@dataclass(frozen=True, slots=True)
class ServingCert:
    """Certificate and key files; the certificate is its own CA."""

    cert_file: str
    key_file: str

    def ca_pem(self) -> bytes:
        """The PEM text clients trust (kubeconfig `certificate-authority-data`)."""
        with open(self.cert_file, "rb") as f:
            return f.read()

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context serving this certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A TLS client context that trusts this certificate."""
        return ssl.create_default_context(cadata=self.ca_pem().decode())


def serving_cert(directory: str, *, days: int = 3650) -> ServingCert:
    """The certificate in directory (`apiserver.crt`, `apiserver.key`), made there when missing."""
    cert = ServingCert(os.path.join(directory, "apiserver.crt"), os.path.join(directory, "apiserver.key"))
    if os.path.exists(cert.cert_file) and os.path.exists(cert.key_file):
        return cert
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("serving HTTPS (needed with a token file) requires the openssl command")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    command = [
        openssl,
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        str(days),
        "-subj",
        "/CN=petdns-local",
        "-addext",
        SUBJECT_ALT_NAMES,
        "-keyout",
        cert.key_file,
        "-out",
        cert.cert_file,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl could not make a serving certificate: {done.stderr.strip()}")
    os.chmod(cert.key_file, 0o600)
    os.chmod(cert.cert_file, 0o600)
    return cert
