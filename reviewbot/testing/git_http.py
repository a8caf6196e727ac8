"""A loopback smart-HTTP git server: ``git http-backend`` behind stdlib ``http.server``.

It serves the bare repositories under one directory over real HTTP on 127.0.0.1, with
GitHub's token authentication, so fetch and push paths can be tested with the real git
program and with libgit2 (pygit2), including shallow clones (libgit2 refuses shallow
fetches over ``file://`` and local paths)::

    from reviewbot.testing.git_http import GitHttpServer

    with GitHttpServer(token="ghs_test") as srv:
        bare = srv.create_repo("acme/widgets")      # an empty bare repo, served
        srv.add_repo("other", existing_bare_path)   # or serve an existing one (symlinked)
        url = srv.url("acme/widgets")               # http://127.0.0.1:PORT/acme/widgets.git
        env = srv.auth_env()                        # GIT_CONFIG_* env with the auth header
        subprocess.run(["git", "clone", "--depth", "1", url, "dst"], env={**os.environ, **env})
        srv.requests                                # every request: method, path, status, user

Behaviour
    Every request needs HTTP Basic auth as ``x-access-token:<token>`` (what GitHub accepts
    from Actions); anything else gets 401 with a ``WWW-Authenticate`` challenge, counted in
    :attr:`GitHttpServer.auth_failures`. Fetch (``git-upload-pack``) and push
    (``git-receive-pack``) are both enabled. Like GitHub, the server lets clients fetch any
    reachable commit by its id (``uploadpack.allowReachableSHA1InWant``), which is how a
    shallow checkout fetches a missing pull request base. Request bodies may be chunked or
    gzip-encoded (git and libgit2 send both). Protocol v2 is passed through from the
    ``Git-Protocol`` header. ``refuse_all`` makes every request fail with 503 (a remote that
    cannot be reached in a useful way). The server never logs credentials; ``requests``
    records only the user name.

    ``watch_argv=True`` checks, while each authenticated request is being served (the client
    is alive then), whether any process on the machine shows the token in its argument list
    (Linux ``/proc/*/cmdline``, readable by every user), raw or inside a Basic-auth header; such
    processes are listed in :attr:`GitHttpServer.argv_leaks` as ``"pid program"``.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

USERNAME = "x-access-token"

# Config for the backend's git processes, passed in the environment (no global config).
_BACKEND_CONFIG = {
    "http.receivepack": "true",
    "http.uploadpack": "true",
    "uploadpack.allowReachableSHA1InWant": "true",
    "uploadpack.allowFilter": "true",
    "receive.denyCurrentBranch": "refuse",
}


@dataclass
class GitRequest:
    method: str
    path: str
    query: str
    user: str | None  # the Basic-auth user name; the password is never kept
    status: int = 0


def basic_auth_header(token: str, username: str = USERNAME) -> str:
    """The ``Authorization`` header value git sends for ``username:token``."""
    raw = base64.b64encode(f"{username}:{token}".encode()).decode("ascii")
    return f"Basic {raw}"


class GitHttpServer:
    """Serves bare repositories under ``root`` (a temporary directory by default)."""

    def __init__(self, *, token: str, root: Path | None = None, watch_argv: bool = False) -> None:
        if not token:
            raise ValueError("GitHttpServer needs a non-empty token")
        self.token = token
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="git-http-")) if root is None else Path(root)
        self.requests: list[GitRequest] = []
        self.auth_failures = 0
        self.refuse_all = False
        self.watch_argv = watch_argv
        self.argv_leaks: list[str] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        backend = shutil.which("git")
        if backend is None:
            raise RuntimeError("the git program is not on PATH")
        self._git = backend

    # -- repositories -------------------------------------------------------------------

    def _repo_dir(self, name: str) -> Path:
        rel = name if name.endswith(".git") else f"{name}.git"
        target = (self.root / rel).resolve()
        if self.root.resolve() not in target.parents:
            raise ValueError(f"repository name {name!r} leaves the server root")
        return target

    def create_repo(self, name: str, *, branch: str = "main") -> Path:
        """An empty bare repository served as ``name``; returns its path."""
        path = self._repo_dir(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [self._git, "init", "-q", "--bare", "-b", branch, str(path)],
            check=True,
            capture_output=True,
        )
        return path

    def add_repo(self, name: str, bare: Path) -> Path:
        """Serve an existing bare repository as ``name`` (through a symlink, so pushes land in
        ``bare`` itself)."""
        path = self._repo_dir(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(Path(bare).resolve(), target_is_directory=True)
        return path

    def url(self, name: str) -> str:
        rel = name if name.endswith(".git") else f"{name}.git"
        return f"{self.base_url}/{rel}"

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not running; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def auth_env(self, token: str | None = None) -> dict[str, str]:
        """Environment for the git program that sends ``x-access-token:<token>`` to this server.

        The header travels through ``GIT_CONFIG_*`` variables, not a ``-c`` argument, so it is
        never in a process argument list.
        """
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{self.base_url}/.extraheader",
            "GIT_CONFIG_VALUE_0": "Authorization: "
            + basic_auth_header(self.token if token is None else token),
            "GIT_TERMINAL_PROMPT": "0",
        }

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> GitHttpServer:
        handler = type("_BoundGitHandler", (_GitHandler,), {"server_state": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> GitHttpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- used by the handler ------------------------------------------------------------

    def _record(self, request: GitRequest) -> None:
        with self._lock:
            self.requests.append(request)
            if request.status == 401:
                self.auth_failures += 1

    def _scan_argv(self) -> None:
        needles = (self.token.encode(), basic_auth_header(self.token)[6:].encode())
        found: list[str] = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                args = cmdline.read_bytes()
            except OSError:  # the process ended, or is not ours to read
                continue
            if any(n in args for n in needles):
                program = args.split(b"\0", 1)[0].decode(errors="replace")
                found.append(f"{cmdline.parent.name} {program}")
        if found:
            with self._lock:
                self.argv_leaks.extend(found)

    def _authorized(self, header: str | None) -> tuple[bool, str | None]:
        if not header or not header.startswith("Basic "):
            return False, None
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False, None
        return user == USERNAME and password == self.token, user

    def _backend_env(
        self, handler: _GitHandler, path: str, query: str, user: str
    ) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GIT_", "HTTP_")) and k not in ("CONTENT_TYPE", "CONTENT_LENGTH")
        }
        env.update(
            {
                "GIT_PROJECT_ROOT": str(self.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "GATEWAY_INTERFACE": "CGI/1.1",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "REQUEST_METHOD": handler.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REMOTE_USER": user,
                "REMOTE_ADDR": handler.client_address[0],
                "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
                "GIT_CONFIG_COUNT": str(len(_BACKEND_CONFIG)),
            }
        )
        for i, (key, value) in enumerate(_BACKEND_CONFIG.items()):
            env[f"GIT_CONFIG_KEY_{i}"] = key
            env[f"GIT_CONFIG_VALUE_{i}"] = value
        protocol = handler.headers.get("Git-Protocol")
        if protocol:
            env["GIT_PROTOCOL"] = protocol
        encoding = handler.headers.get("Content-Encoding")
        if encoding:
            # http-backend inflates a gzip request body itself.
            env["HTTP_CONTENT_ENCODING"] = encoding
        return env


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request (libgit2 giving up on a refused token) is normal.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _GitHandler(BaseHTTPRequestHandler):
    server_state: GitHttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return  # quiet; requests are recorded instead

    def do_GET(self) -> None:  # noqa: N802
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers (normally none) end with an empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self) -> None:
        state = self.server_state
        parts = urlsplit(self.path)
        body = self._read_body() if self.command == "POST" else b""
        ok, user = state._authorized(self.headers.get("Authorization"))
        record = GitRequest(self.command, parts.path, parts.query, user)
        if state.refuse_all:
            record.status = 503
            self._answer(503, b"unavailable\n", {"Content-Type": "text/plain"})
        elif not ok:
            record.status = 401
            self._answer(
                401,
                b"Invalid username or token.\n",
                {"Content-Type": "text/plain", "WWW-Authenticate": 'Basic realm="git"'},
            )
        else:
            assert user is not None
            if state.watch_argv:
                state._scan_argv()
            env = state._backend_env(self, parts.path, parts.query, user)
            env["CONTENT_LENGTH"] = str(len(body))
            proc = subprocess.run(
                [state._git, "http-backend"],
                input=body,
                env=env,
                capture_output=True,
                check=False,
            )
            status, headers, payload = _parse_cgi(proc.stdout)
            if proc.returncode != 0 and status == 200 and not payload:
                status = 500
            record.status = status
            self._answer(status, payload, headers)
        state._record(record)


def _parse_cgi(output: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a CGI response."""
    head, sep, payload = output.partition(b"\r\n\r\n")
    if not sep:
        head, sep, payload = output.partition(b"\n\n")
    status = 200
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            headers[name.strip()] = value.strip()
    headers.pop("Content-Length", None)
    return status, headers, payload
