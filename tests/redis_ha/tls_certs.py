"""Throwaway certificates for the TLS tests, made with the `cryptography` library in a directory.

`make_certs(directory)` writes, as PEM files:
- ca.pem: the CA every server and client certificate here is signed by;
- server.pem / server.key: a certificate naming 127.0.0.1 and localhost (every test server uses it,
  for serving and as the client certificate it shows the other servers: replication, Sentinels);
- client.pem / client.key: botrunner's client certificate for servers that require one;
- elsewhere.pem / elsewhere.key: signed by the same CA but naming only redis.example, so a client
  connecting to 127.0.0.1 fails the host name check and passes the CA check;
- other-ca.pem: another CA (the "wrong CA" a client may be given), and stranger.pem / stranger.key,
  a client certificate it signed (one the servers, trusting only ca.pem, reject).
Keys are EC P-256 (fast to make); certificates are valid from an hour ago for a day.
"""
from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Certs:
    """Paths of the files `make_certs` wrote."""

    directory: Path

    def __getattr__(self, name: str) -> str:
        files = {"ca": "ca.pem", "server_cert": "server.pem", "server_key": "server.key", "client_cert": "client.pem",
                 "client_key": "client.key", "elsewhere_cert": "elsewhere.pem", "elsewhere_key": "elsewhere.key",
                 "other_ca": "other-ca.pem", "stranger_cert": "stranger.pem", "stranger_key": "stranger.key"}
        if name not in files:
            raise AttributeError(name)
        return str(self.directory / files[name])

    def server_lines(self, auth_clients: str = "no") -> list[str]:
        """redis.conf lines for a TLS server (and Sentinel) with this set's server certificate;
        auth_clients: yes (a client certificate is required), optional or no."""
        return [f"tls-cert-file {self.server_cert}", f"tls-key-file {self.server_key}",
                f"tls-ca-cert-file {self.ca}", f"tls-auth-clients {auth_clients}"]

    def env(self, client_cert: bool = False) -> dict[str, str]:
        """botrunner's settings trusting this CA, with its client certificate when asked."""
        env = {"REDIS_TLS_CA_FILE": self.ca}
        if client_cert:
            env.update(REDIS_TLS_CERT_FILE=self.client_cert, REDIS_TLS_KEY_FILE=self.client_key)
        return env

    def client_options(self) -> dict:
        """redis-py options of a test's own client (with the client certificate)."""
        return {"ssl": True, "ssl_ca_certs": self.ca, "ssl_certfile": self.client_cert, "ssl_keyfile": self.client_key}


def make_certs(directory: Path) -> Certs:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca("botrunner test CA")
    _write(directory, "ca", None, ca_cert)
    leaves = {"server": ([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
                         [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
              "client": ([x509.DNSName("botrunner-client")], [ExtendedKeyUsageOID.CLIENT_AUTH]),
              "elsewhere": ([x509.DNSName("redis.example")], [ExtendedKeyUsageOID.SERVER_AUTH])}
    for name, (names, usages) in leaves.items():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _signed(key, ca_key, ca_cert.subject, name, names, usages)
        _write(directory, name, key, cert)
    other_key, other_cert = _ca("some other CA")
    _write(directory, "other-ca", None, other_cert)
    stranger = ec.generate_private_key(ec.SECP256R1())
    _write(directory, "stranger", stranger, _signed(stranger, other_key, other_cert.subject, "stranger",
                                                    [x509.DNSName("stranger")], [ExtendedKeyUsageOID.CLIENT_AUTH]))
    return Certs(directory)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))


def _ca(common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _validity(x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common))
                        .public_key(key.public_key()).serial_number(x509.random_serial_number()))
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).add_extension(
        x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                      key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                      decipher_only=False), critical=True).add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    return key, builder.sign(key, hashes.SHA256())


def _signed(key: ec.EllipticCurvePrivateKey, ca_key: ec.EllipticCurvePrivateKey, issuer: x509.Name, common: str,
            names: list[x509.GeneralName], usages: list[x509.ObjectIdentifier]) -> x509.Certificate:
    builder = _validity(x509.CertificateBuilder().subject_name(_name(common)).issuer_name(issuer)
                        .public_key(key.public_key()).serial_number(x509.random_serial_number()))
    builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False).add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True).add_extension(
        x509.ExtendedKeyUsage(usages), critical=False).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _write(directory: Path, name: str, key: ec.EllipticCurvePrivateKey | None, cert: x509.Certificate) -> None:
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path = directory / f"{name}.key"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
