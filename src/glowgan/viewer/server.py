"""Serve the HDR viewer page on localhost with the standard library's threading HTTP server.

Routes (GET and HEAD only):

- ``/`` and ``/index.html``: the page; ``/static/NAME``: its script and style sheet (only the files
  shipped in ``glowgan/viewer/static``, by exact name).
- ``/index.json``: the gallery (see :class:`glowgan.viewer.gallery.Gallery`), rescanned on every
  request so that new results appear on reload, with the URL templates of the two routes below.
- ``/image/ID.bin``: the image as a viewer payload (:mod:`glowgan.viewer.imagedata`).
- ``/thumb/ID.png``: a thumbnail.

Requests name images only by id; an id that is not in the gallery is a 404, so no request can reach
a file outside the gallery (see :mod:`glowgan.viewer.gallery`). An image that cannot be read gives a
422 response with ``{"error": message}``, which the page shows in place of the image. When bound to
a loopback address the server also refuses requests whose ``Host`` is not a loopback name, so a web
page elsewhere cannot read the images through DNS rebinding.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import unquote, urlsplit

from glowgan.viewer import imagedata
from glowgan.viewer.gallery import Gallery, scan

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
SERVER_URLS = {"data": "image/{id}.bin", "thumb": "thumb/{id}.png"}
_IMAGE_ROUTE = re.compile(r"^/(?:image/(?P<image>[0-9a-f]{16})\.bin|thumb/(?P<thumb>[0-9a-f]{16})\.png)$")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_THUMBNAIL_CACHE_SIZE = 512


def static_files() -> dict[str, bytes]:
    """The page's files, by name: ``index.html`` and the assets under ``static/``."""
    folder = resources.files("glowgan.viewer") / "static"
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and os.path.splitext(entry.name)[1] in STATIC_TYPES
    }


class ViewerServer(ThreadingHTTPServer):
    """HTTP server over a gallery of ``sources`` (image files and folders)."""

    daemon_threads = True

    def __init__(self, sources: Sequence[str | os.PathLike], *, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self.sources = list(sources)
        self._gallery = scan(self.sources)
        self._lock = threading.Lock()
        self.static = static_files()
        super().__init__((host, port), ViewerRequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    @property
    def gallery(self) -> Gallery:
        """The gallery as last scanned."""
        with self._lock:
            return self._gallery

    def rescan(self) -> Gallery:
        scanned = scan(self.sources)
        with self._lock:
            self._gallery = scanned
        return scanned

    def handle_error(self, request, client_address) -> None:
        """A browser that drops a connection (a page left mid-load) needs no traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("%s closed the connection early", client_address)
            return
        super().handle_error(request, client_address)

    def image_path(self, image_id: str):
        """The file of ``image_id``, rescanning once for images that appeared since; None if unknown."""
        path = self.gallery.paths.get(image_id)
        return path if path is not None else self.rescan().paths.get(image_id)


@functools.lru_cache(maxsize=_THUMBNAIL_CACHE_SIZE)
def _cached_thumbnail(path: str, mtime_ns: int, file_bytes: int) -> bytes:
    """Thumbnail of ``path`` as it was at ``mtime_ns`` with ``file_bytes`` bytes (both part of the cache key)."""
    return imagedata.thumbnail_png(path)


class ViewerRequestHandler(BaseHTTPRequestHandler):
    server: ViewerServer
    server_version = "glowgan-view"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._respond(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(head=True)

    def _respond(self, *, head: bool) -> None:
        self._head = head
        if not self._host_allowed():
            self._send_error(HTTPStatus.FORBIDDEN, "requests must name this computer (localhost) as Host")
            return
        route = unquote(urlsplit(self.path).path)
        if route in ("/", "/index.html"):
            self._send(HTTPStatus.OK, self.server.static["index.html"], STATIC_TYPES[".html"])
        elif route.startswith("/static/") and route[len("/static/") :] in self.server.static:
            name = route[len("/static/") :]
            self._send(HTTPStatus.OK, self.server.static[name], STATIC_TYPES[os.path.splitext(name)[1]])
        elif route == "/index.json":
            index = {**self.server.rescan().index, "urls": SERVER_URLS}
            self._send(HTTPStatus.OK, json.dumps(index).encode("utf-8"), "application/json")
        elif match := _IMAGE_ROUTE.match(route):
            self._send_image(match["image"] or match["thumb"], thumbnail=match["thumb"] is not None)
        else:
            self._send_error(HTTPStatus.NOT_FOUND, f"no such page: {route}")

    def _send_image(self, image_id: str, *, thumbnail: bool) -> None:
        path = self.server.image_path(image_id)
        if path is None:
            self._send_error(HTTPStatus.NOT_FOUND, f"no image {image_id} in this gallery; reload the page")
            return
        try:
            if not thumbnail:
                body, content_type = imagedata.image_payload(path), "application/octet-stream"
            else:
                stat = os.stat(path)
                body, content_type = _cached_thumbnail(os.fspath(path), stat.st_mtime_ns, stat.st_size), "image/png"
        except (ValueError, OSError) as error:  # hdrio.ImageIOError is a ValueError
            self._send_error(HTTPStatus.UNPROCESSABLE_ENTITY, str(error))
            return
        self._send(HTTPStatus.OK, body, content_type)

    def _host_allowed(self) -> bool:
        if not self.server.server_address[0].startswith(("127.", "::1")):
            return True
        host = (self.headers.get("Host") or "").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in _LOOPBACK_HOSTS or name.startswith("127.")

    def _send_error(self, status: HTTPStatus, message: str) -> None:
        self._send(status, json.dumps({"error": message}).encode("utf-8"), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not self._head:
            self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        logger.debug("%s %s", self.address_string(), format % args)
