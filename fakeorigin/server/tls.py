"""``--tls``: a throwaway certificate authority and a server certificate, made at start-up.

A test that talks TLS to the origin needs a certificate its client trusts, and nobody wants to
make one by hand for each run. With ``--tls`` fakeorigin makes a new CA and a certificate it
signs for ``localhost``, ``127.0.0.1`` and ``::1`` (and every ``--tls-name``) with trustme,
writes the CA certificate to a file (``--tls-ca``, else a new temporary directory) and serves
every ``--listen`` endpoint over TLS with it. The file is what a client trusts: ``curl
--cacert``, ``requests`` ``verify=``, ``ssl.create_default_context(cafile=...)``; ``--announce``,
``GET /health`` and the pytest plugin's handle name it (``ca``).

The TLS port offers ALPN ``http/1.1`` (RFC 7301); a client that offers no ALPN gets HTTP/1.1
all the same (:mod:`fakeorigin.transport.tls_facts` reads what was agreed).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Names the server certificate is always valid for (RFC 6125 DNS-ID and IP addresses).
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
#: What the TLS port offers in ALPN.
ALPN = (b"h2", b"http/1.1")


@dataclass(frozen=True, slots=True)
class GeneratedTLS:
    """The CA file and what the TLS ports serve with.

    Attributes:
        ca_path: the CA certificate (PEM) a client trusts.
        names: what the server certificate is valid for.
        options: Twisted's ``CertificateOptions`` (the key, the certificate, ALPN).
        made_directory: the temporary directory of ``ca_path``, removed by :meth:`remove`;
            None when the path was given.
        pems: the server's private key and certificate chain (PEM), which the workers of
            ``--workers N`` are given to serve with (:func:`options`).
    """

    ca_path: Path
    names: tuple[str, ...]
    options: Any
    made_directory: Path | None
    pems: tuple[str, list[str]]

    def remove(self) -> None:
        """Remove the CA file's temporary directory (at exit); a given path is kept."""
        if self.made_directory is not None:
            shutil.rmtree(self.made_directory, ignore_errors=True)


def generate(names: list[str], ca_path: Path | None) -> GeneratedTLS:
    """A new CA, a server certificate for :data:`DEFAULT_NAMES` and ``names``, the CA written
    to ``ca_path`` (or a new temporary directory's ``ca.pem``)."""
    import trustme  # noqa: PLC0415 (only with --tls)

    all_names = tuple(dict.fromkeys([*DEFAULT_NAMES, *names]))
    ca = trustme.CA(organization_name="fakeorigin test CA")
    server = ca.issue_cert(*all_names)
    made = None
    if ca_path is None:
        made = Path(tempfile.mkdtemp(prefix="fakeorigin-tls-"))
        ca_path = made / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    pems = (
        server.private_key_pem.bytes().decode("ascii"),
        [blob.bytes().decode("ascii") for blob in server.cert_chain_pems],
    )
    return GeneratedTLS(ca_path, all_names, options(*pems), made, pems)


def options(key_pem: str, chain_pems: list[str]) -> Any:
    """Twisted's ``CertificateOptions`` for this key and chain, offering :data:`ALPN`."""
    from OpenSSL import crypto  # noqa: PLC0415 (only with --tls)
    from twisted.internet.ssl import CertificateOptions  # noqa: PLC0415

    key = crypto.load_privatekey(crypto.FILETYPE_PEM, key_pem.encode("ascii"))
    chain = [
        crypto.load_certificate(crypto.FILETYPE_PEM, pem.encode("ascii")) for pem in chain_pems
    ]
    return CertificateOptions(
        privateKey=key,
        certificate=chain[0],
        extraCertChain=chain[1:],
        acceptableProtocols=list(ALPN),
    )


def wrap(factory: Any, options: Any) -> Any:
    """``factory`` served over TLS with ``options`` (Twisted's memory-BIO TLS)."""
    from twisted.protocols.tls import TLSMemoryBIOFactory  # noqa: PLC0415

    return TLSMemoryBIOFactory(options, False, factory)
