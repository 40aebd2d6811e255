"""Debian's nginx for tests: the shipped systemd/nginx-botrunner.conf, rendered for this machine.

`render()` keeps the shipped file and changes only what a test must: listen ports, the upstream
hosts, the certificate paths (a self-signed CA made here) and loopback added to the Telegram
allowlist. Under CI (CI=true) a missing nginx fails the test instead of skipping it.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.runner.conftest import ROOT, wait_until

SHIPPED = ROOT / "systemd" / "nginx-botrunner.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("nginx is not installed: `make test-deps` (apt-get install -y nginx) must run first")
    pytest.skip("nginx is not installed (apt-get install -y nginx, or `make test-deps`)")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost (also its own CA) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "botrunner test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def render(directory: Path, cert: Path, key: Path, upstreams: list[int] | None = None,
           tls_port: int | None = None, http_port: int | None = None) -> Path:
    """The shipped site file with test ports/certs, inside a main nginx.conf rooted at `directory`."""
    site = SHIPPED.read_text()
    site = re.sub(r"ssl_certificate \S+;", f"ssl_certificate {cert};", site)
    site = re.sub(r"ssl_certificate_key \S+;", f"ssl_certificate_key {key};", site)
    if upstreams is not None:
        servers = "".join(f"server 127.0.0.1:{port} max_fails=3 fail_timeout=30s;\n    " for port in upstreams)
        site, count = re.subn(r"server 127\.0\.0\.1:8443 [^;]*;\n    ", servers, site)
        assert count == 1, "the shipped upstream line changed: update tests/web/nginx.py"
        site = site.replace("allow 91.108.4.0/22;", "allow 91.108.4.0/22;\n        allow 127.0.0.1;  # test")
        site = re.sub(r"\s*listen \[::\]:\d+[^;]*;", "", site)
        site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{tls_port} ssl http2;")
        site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    (directory / "botrunner.conf").write_text(site)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / sub).mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = directory / "nginx.conf"
    main.write_text(f"""{user}daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 1024; }}
http {{
    log_format upstream '$status $upstream_addr $upstream_status';
    access_log {directory}/access.log upstream;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/botrunner.conf;
}}
""")
    return main


def check(main: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on a rendered configuration."""
    return subprocess.run([nginx_binary(), "-t", "-p", str(main.parent), "-c", str(main)],
                          capture_output=True, text=True, timeout=30)


class Nginx:
    """nginx in the foreground on a rendered configuration; stopped with SIGQUIT (graceful)."""

    def __init__(self, main: Path, tls_port: int) -> None:
        self.main, self.tls_port = main, tls_port
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Nginx":
        log = open(self.main.parent / "nginx.out", "wb")
        self.proc = subprocess.Popen([nginx_binary(), "-p", str(self.main.parent), "-c", str(self.main)],
                                     stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is None and (self.main.parent / "nginx.pid").exists(), 20, 0.1,
                   what="nginx to start")
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def upstream_log(self) -> list[str]:
        path = self.main.parent / "access.log"
        return path.read_text().splitlines() if path.exists() else []
