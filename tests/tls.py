"""A throwaway test CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI.

(The ``cryptography`` package is not a dependency, and ``openssl`` is everywhere mosquitto is.)
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.servers import BrokerTls

DAYS = "2"
EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


@dataclass(frozen=True)
class TestCa:
    """A CA certificate and its key (PEM)."""

    __test__ = False  # not a pytest test class

    cert: Path
    key: Path


def openssl(*args: str) -> None:
    """Run the openssl CLI; raise with its output on failure."""
    binary = shutil.which("openssl")
    if binary is None:
        raise RuntimeError("the openssl command is needed to make test certificates")
    done = subprocess.run([binary, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{done.stderr}")


def make_ca(directory: Path, name: str = "sitewatch test CA") -> TestCa:
    """A self-signed CA in ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = TestCa(directory / "ca.crt", directory / "ca.key")
    openssl(
        *("req", "-x509", *EC_KEY, "-days", DAYS, "-subj", f"/CN={name}"),
        *("-keyout", str(ca.key), "-out", str(ca.cert)),
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    )
    return ca


def make_server_tls(directory: Path) -> BrokerTls:
    """A new CA and a server certificate it signed for 127.0.0.1 and localhost."""
    ca = make_ca(directory / "ca")
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    extensions = directory / "server.ext"
    extensions.write_text(SERVER_EXTENSIONS)
    openssl("req", "-new", *EC_KEY, "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(csr))
    openssl(
        *("x509", "-req", "-in", str(csr), "-days", DAYS, "-extfile", str(extensions)),
        *("-CA", str(ca.cert), "-CAkey", str(ca.key), "-CAcreateserial", "-out", str(cert)),
    )
    return BrokerTls(ca_file=ca.cert, cert_file=cert, key_file=key)
