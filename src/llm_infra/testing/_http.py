"""``MockHttpServer``: a real HTTP server on loopback that answers with scripted responses.

Clients under test talk to it over real sockets (no patched transports), so timeouts, retries,
connection reuse, TLS and trace propagation are exercised for real::

    with MockHttpServer() as server:
        server.enqueue(MockResponse(status=503, headers={"Retry-After": "0"}), MockResponse(json=[1]))
        response = HttpClient().get(server.url("/items"))
        assert [r.path for r in server.requests] == ["/items", "/items"]
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import ssl
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, final
from urllib.parse import parse_qsl, urlsplit

from llm_infra import json as infra_json
from llm_infra.errors import ConfigError

_UNSET: Any = object()


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class MockResponse:
    """One scripted answer.

    Attributes:
        status: the status code.
        headers: response headers.
        body: the body (``str`` is UTF-8 encoded).
        json: a JSON body (sets ``Content-Type: application/json`` unless given).
        delay: seconds to wait before answering.
        trickle: seconds between body chunks (a slow server); None sends the body at once.
        chunk_size: bytes per chunk when trickling.
        close: drop the connection without answering (a transport failure for the client).

    .. versionadded:: 0.1.0
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | str = b""
    json: Any = _UNSET
    delay: float = 0.0
    trickle: float | None = None
    chunk_size: int = 1
    close: bool = False

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 599:
            raise ConfigError(f"status must be 100..599, got {self.status}", key="status")
        if self.delay < 0 or (self.trickle is not None and self.trickle < 0) or self.chunk_size < 1:
            raise ConfigError("delay and trickle must be >= 0 and chunk_size >= 1", key="delay")

    @classmethod
    def problem(
        cls,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> MockResponse:
        """An RFC 9457 ``application/problem+json`` answer."""
        document: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
        if detail is not None:
            document["detail"] = detail
        if code is not None:
            document["code"] = code
        document.update(extra)
        merged = {"Content-Type": "application/problem+json", **(headers or {})}
        return cls(status=status, headers=merged, body=infra_json.dumps(document))

    def encoded(self) -> tuple[dict[str, str], bytes]:
        """The headers and body bytes to send."""
        headers = dict(self.headers)
        if self.json is not _UNSET:
            body = infra_json.dumps(self.json)
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        else:
            body = self.body.encode() if isinstance(self.body, str) else self.body
        return headers, body


@final
@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the server received: method, path, query, headers (lower-case names) and body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def traceparent(self) -> str | None:
        """The W3C ``traceparent`` header, if any."""
        return self.headers.get("traceparent")

    def json(self) -> Any:
        """The body decoded as JSON."""
        return infra_json.loads(self.body)


Handler = Callable[[RecordedRequest], MockResponse]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "llm-infra MockHttpServer")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: MockHttpServer


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        recorded = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
        )
        owner.requests.append(recorded)
        if owner.trace:
            from opentelemetry.trace import SpanKind

            from llm_infra.otel import extract, span

            with span(
                f"{self.command} {parts.path}", kind=SpanKind.SERVER, context=extract(recorded.headers)
            ):
                self._answer(owner.next_response(recorded))
        else:
            self._answer(owner.next_response(recorded))

    def _answer(self, response: MockResponse) -> None:
        stopping = self.server.owner.stopping
        if response.delay and stopping.wait(response.delay):
            self.close_connection = True
            return
        if response.close:
            self.close_connection = True
            return
        headers, body = response.encoded()
        try:
            self.send_response(response.status)
            if not any(k.lower() == "content-length" for k in headers):
                self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command == "HEAD":
                return
            if response.trickle is None:
                self.wfile.write(body)
                self.wfile.flush()
                return
            for start in range(0, len(body), response.chunk_size):
                self.wfile.write(body[start : start + response.chunk_size])
                self.wfile.flush()
                if stopping.wait(response.trickle):
                    self.close_connection = True
                    return
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):  # the client gave up
            self.close_connection = True

    # http.server dispatches on these names.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle  # noqa: N815


@final
class MockHttpServer:
    """A loopback HTTP(S) server answering from a script, recording every request.

    Responses are served in order from ``enqueue``'d queues: first the queue registered for the
    request's method and path, then the one for its path, then the general queue, then
    ``handler`` (a function of the request), then ``default``. Usable from sync and async tests.

    Args:
        *responses: the initial general queue.
        default: the answer when nothing else applies (200 with an empty body).
        handler: computes an answer from the ``RecordedRequest`` when no queue applies.
        tls: serve HTTPS with a fresh self-signed certificate (trust ``ca_file``).
        trace: open a SERVER span per request, parented by the incoming W3C trace context.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *responses: MockResponse,
        default: MockResponse | None = None,
        handler: Handler | None = None,
        tls: bool = False,
        trace: bool = False,
    ) -> None:
        self.requests: list[RecordedRequest] = []
        self.default = default or MockResponse()
        self.handler = handler
        self.tls = tls
        self.trace = trace
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._queues: dict[tuple[str | None, str | None], deque[MockResponse]] = {
            (None, None): deque(responses)
        }
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tmp: Path | None = None
        self.ca_file: str | None = None

    # --- scripting ------------------------------------------------------------------------------

    def enqueue(self, *responses: MockResponse, method: str | None = None, path: str | None = None) -> None:
        """Append answers to the queue of ``method``/``path`` (either may be None: any)."""
        key = (None if method is None else method.upper(), path)
        with self._lock:
            self._queues.setdefault(key, deque()).extend(responses)

    def next_response(self, request: RecordedRequest) -> MockResponse:
        """The answer for ``request`` (consumes a queued one if any)."""
        with self._lock:
            for key in ((request.method, request.path), (None, request.path), (None, None)):
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
        if self.handler is not None:
            return self.handler(request)
        return self.default

    # --- addresses ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (after ``start``)."""
        if self._server is None:
            raise ConfigError("MockHttpServer is not started", key="server")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http(s)://127.0.0.1:<port>``."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        """An absolute URL on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context trusting this server's certificate (``tls=True`` only)."""
        if self.ca_file is None:
            raise ConfigError("client_ssl_context() needs MockHttpServer(tls=True)", key="tls")
        return ssl.create_default_context(cafile=self.ca_file)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> MockHttpServer:
        """Bind to a free loopback port and serve from a background thread."""
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _RequestHandler)
        server.owner = self
        if self.tls:
            self._tmp = Path(tempfile.mkdtemp(prefix="llm-infra-mockhttp-"))
            cert_file, key_file = _self_signed(self._tmp)
            self.ca_file = str(cert_file)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert_file, key_file)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="llm-infra-mockhttp", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (slow answers in progress are cut short) and release the port."""
        server = self._server
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.server_close()
        self._server = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> MockHttpServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> MockHttpServer:
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def unused_port() -> int:
    """A loopback TCP port with nothing listening on it (for "connection refused" tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


__all__ = ["MockHttpServer", "MockResponse", "RecordedRequest", "unused_port"]
