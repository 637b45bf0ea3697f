"""The TLS context built from the connection inputs, and TLS failures explained."""

from __future__ import annotations

import re
import ssl
import warnings
from functools import lru_cache

from connector.sdk.errors import ConnectionFailed, InvalidInput, TlsError

VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


def security_level(min_dh_size: int) -> int:
    """OpenSSL's security level is Python's only control of the smallest DH group."""
    if min_dh_size <= 1024:
        return 1
    if min_dh_size <= 2048:
        return 2
    if min_dh_size <= 3072:
        return 3
    return 4


def build_context(
    *, min_version: str, max_version: str, min_dh_size: int, ca_certificate: str | None
) -> ssl.SSLContext:
    if list(VERSIONS).index(max_version) < list(VERSIONS).index(min_version):
        raise InvalidInput(
            f"Maximum TLS Version ({max_version}) is below Minimum TLS Version ({min_version}): "
            "raise the maximum or lower the minimum.",
            path="connection.maxVersion",
        )
    return _context(min_version, max_version, min_dh_size, pem(ca_certificate or "") or None)


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


def pem(text: str) -> str:
    """PEM blocks with their line breaks put back: a certificate pasted into a one-line field
    (a platform's connection form, a header) loses them, and OpenSSL then reads nothing."""
    blocks = []
    for label, body in _PEM_BLOCK.findall(text):
        data = "".join(body.split())
        lines = [data[i : i + 64] for i in range(0, len(data), 64)]
        blocks.append("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]))
    return "\n".join(blocks) + "\n" if blocks else text


@lru_cache(maxsize=32)
def _context(
    min_version: str, max_version: str, min_dh_size: int, ca_certificate: str | None
) -> ssl.SSLContext:
    """One context per distinct setting, reused: loading the system CA store costs ~18 ms.

    SSLContext is safe to share between connections and threads once configured.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the certificate and host name
    if ca_certificate:  # the given CA instead of the system store
        try:
            context.load_verify_locations(cadata=ca_certificate)
        except (ssl.SSLError, ValueError):
            raise InvalidInput(
                "CA Certificate is not a valid PEM certificate: paste the whole "
                "-----BEGIN CERTIFICATE----- block.",
                path="connection.caCertificate",
            ) from None
    else:
        context.load_default_certs()
    with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated, and offered only on request
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = VERSIONS[min_version]
        context.maximum_version = VERSIONS[max_version]
    level = security_level(min_dh_size)
    if VERSIONS[max_version] <= ssl.TLSVersion.TLSv1_1:
        # TLS 1.0/1.1 need SHA-1 signatures, which OpenSSL 3 allows only at level 0.
        level = 0
    context.set_ciphers(f"DEFAULT:@SECLEVEL={level}")
    return context


def explain(exc: ssl.SSLError, *, host: str, port: int) -> Exception:
    """A typed error naming the cause of a failed handshake and the input to change."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or str(exc)
        if "hostname" in detail.lower() or "ip address mismatch" in detail.lower():
            return TlsError(
                f"The server's certificate is not valid for {host!r} ({detail}): "
                "use the host name the certificate was issued for."
            )
        return TlsError(
            f"The server's certificate is not trusted ({detail}). If the server uses "
            "a private or self-signed certificate, paste its CA into CA Certificate."
        )
    reason = (exc.reason or "").upper()
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or reason in (
        "UNEXPECTED_EOF_WHILE_READING",
        "EOF_OCCURRED_IN_VIOLATION_OF_PROTOCOL",
    ):
        # The line was cut mid-handshake: nothing about certificates or versions.
        return ConnectionFailed(
            f"The connection to {host}:{port} was cut during the TLS handshake: try again."
        )
    if reason == "DH_KEY_TOO_SMALL":
        return TlsError(
            "The server's Diffie-Hellman group is smaller than Min DH Size allows: "
            "lower Min DH Size (e.g. 1024) if you trust this server."
        )
    if reason in (
        "UNSUPPORTED_PROTOCOL",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "NO_PROTOCOLS_AVAILABLE",
        "VERSION_TOO_LOW",
        "VERSION_TOO_HIGH",
        "NO_CIPHERS_AVAILABLE",
    ):
        return TlsError(
            f"No TLS version acceptable to both sides ({exc.reason}): adjust Minimum "
            "TLS Version / Maximum TLS Version. A server that only speaks TLS 1.0 or "
            "1.1 needs Maximum TLS Version TLSv1.1 or lower."
        )
    if reason in (
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",
        "PACKET_LENGTH_TOO_LONG",
        "HTTP_REQUEST",
        "UNKNOWN_PROTOCOL",
    ):
        return ConnectionFailed(
            f"Port {port} did not answer with TLS ({exc.reason}): it is not an IMAP server "
            "over TLS (a plain IMAP port, or not IMAP at all). Turn Secure off (STARTTLS) "
            "or use the TLS port, usually 993, and check Host.",
            retryable=False,
        )
    if reason in (
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "SSLV3_ALERT_INSUFFICIENT_SECURITY",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
    ):
        return TlsError(
            f"The TLS handshake failed ({exc.reason}): the server accepts no cipher "
            "or group this client allows. Check Minimum/Maximum TLS Version and Min DH Size."
        )
    return TlsError(f"The TLS handshake with {host}:{port} failed ({exc.reason or exc}).")
