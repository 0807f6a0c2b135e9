"""The console's static files over HTTPS, with the headers a browser needs to be strict.

Only regular files under the site directory with a known type are served. A
path with a ``..`` or hidden segment (encoded or not), a NUL, a backslash, or
one that resolves outside the directory (a symlink) is answered 404, the same
as a missing file, so that probing reveals nothing. There is no directory
listing: a directory serves its ``index.html`` or nothing.
"""

from __future__ import annotations

import ssl
import urllib.parse
from pathlib import Path

from devstack.httpserver import SecureHandler, TLSServer

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}

# The static site is small; a larger file is a mistake, not a page.
MAX_FILE_BYTES = 8 * 1024 * 1024


def content_security_policy(api_origin: str) -> str:
    """The console's CSP: same-origin scripts and styles, API calls to ``api_origin``.

    No inline script or style and no framing (CSP Level 3). ``api_origin`` is
    where the console's JavaScript may send requests (``connect-src``).
    """
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "font-src 'self'",
            f"connect-src 'self' {api_origin}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def resolve_static_path(site: Path, target: str) -> Path | None:
    """The file under ``site`` (resolved) that ``target`` names, or None.

    None for anything that is not a regular file of a served type inside
    ``site`` after symlinks are resolved, for dot segments and hidden names
    (percent-encoded or not), NUL and backslash. A directory names its
    ``index.html``; there is no listing.
    """
    path = target.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        return None
    try:
        decoded = urllib.parse.unquote(path, errors="strict")
    except UnicodeDecodeError:
        return None
    if "\x00" in decoded or "\\" in decoded:
        return None
    segments = [segment for segment in decoded.split("/") if segment]
    if any(segment.startswith(".") for segment in segments):
        # "..", "." and hidden files alike.
        return None

    root = site.resolve()
    candidate = root.joinpath(*segments)
    try:
        if candidate.is_dir():
            candidate = candidate / "index.html"
        resolved = candidate.resolve()
        if not resolved.is_relative_to(root) or not resolved.is_file():
            return None
    except OSError:
        # A name too long for the file system, a loop of symlinks: not ours.
        return None
    if resolved.suffix not in CONTENT_TYPES:
        return None
    return resolved


class ConsoleServer(TLSServer):
    """Serves ``site`` over HTTPS; run ``serve_forever`` in a thread."""

    def __init__(
        self,
        address: tuple[str, int],
        context: ssl.SSLContext,
        site: Path,
        api_origin: str,
    ) -> None:
        self.site = site.resolve()
        self.page_headers: tuple[tuple[str, str], ...] = (
            ("Content-Security-Policy", content_security_policy(api_origin)),
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Cache-Control", "no-cache"),
        )
        super().__init__(address, ConsoleHandler, context, name="console")

    def resolve(self, target: str) -> Path | None:
        """The file a request target names, or None when it names none we serve."""
        return resolve_static_path(self.site, target)


class ConsoleHandler(SecureHandler):
    """GET and HEAD of static files; every other method is refused."""

    server: ConsoleServer

    def do_GET(self) -> None:
        self._close_if_body()
        target = self.server.resolve(self.path)
        if target is None or target.stat().st_size > MAX_FILE_BYTES:
            self.send_bytes(
                404,
                "text/plain; charset=utf-8",
                b"Not found.\n",
                extra=self.server.page_headers,
            )
            return
        self.send_bytes(
            200,
            CONTENT_TYPES[target.suffix],
            target.read_bytes(),
            extra=self.server.page_headers,
        )

    do_HEAD = do_GET

    def _refuse_method(self) -> None:
        self._close_if_body()
        self.send_bytes(
            405,
            "text/plain; charset=utf-8",
            b"Method not allowed.\n",
            extra=(("Allow", "GET, HEAD"), *self.server.page_headers),
        )

    def _close_if_body(self) -> None:
        # A body is never read here, so the connection cannot carry another
        # request after it: its bytes would be parsed as one.
        length = self.headers.get("Content-Length", "0").strip()
        if self.headers.get("Transfer-Encoding") or length not in ("", "0"):
            self.close_connection = True

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _refuse_method
