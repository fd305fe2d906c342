"""Real HTTP servers on 127.0.0.1: a target that can be switched down, a webhook receiver."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        return None


class TargetServer(_Server):
    """Answers 200 "ok" while ``healthy``, else ``failing_status``."""

    def __init__(self, failing_status: int = 503) -> None:
        self.healthy = True
        self.failing_status = failing_status

        class Handler(_Quiet):
            def do_GET(self) -> None:
                owner: TargetServer = self.server.owner  # type: ignore[attr-defined]
                status = 200 if owner.healthy else owner.failing_status
                body = b"ok" if owner.healthy else b"unavailable"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"


class WebhookReceiver(_Server):
    """Records every JSON body POSTed to it; answers ``status`` (503 to simulate an outage).
    ``port`` binds a given port (one that refused connections until now)."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self._lock = threading.Lock()

        class Handler(_Quiet):
            def do_POST(self) -> None:
                owner: WebhookReceiver = self.server.owner  # type: ignore[attr-defined]
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = owner.status
                if status < 300:
                    with owner._lock:
                        owner.received.append({"path": self.path, **json.loads(body)})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler, port)

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def titles(self) -> list[str]:
        with self._lock:
            return [m.get("title", "") for m in self.received]


def self_signed_certificate(directory, days: int = 30) -> tuple[str, str]:
    """A certificate for 127.0.0.1 valid for ``days`` days, as (cert file, key file)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


class TlsTargetServer(TargetServer):
    """``TargetServer`` over HTTPS with a self-signed certificate."""

    def __init__(self, directory, days: int = 30) -> None:
        import ssl

        super().__init__()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self_signed_certificate(directory, days))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/health"


class StaticServer(_Server):
    """Serves one fixed body (e.g. an exposition text) on every GET."""

    def __init__(self, body: str, content_type: str = "text/plain") -> None:
        payload = body.encode()

        class Handler(_Quiet):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"
