"""A catalog file between upload and import: kept on disk under DATA_DIR, owned by one user.

The browser upload is two steps (preview with mapping and errors, then import), so the bytes
must outlive the first request; a session is too small and a multi-process web server has no
shared memory, the data directory is shared.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

STALE_SECONDS = 24 * 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SESSION_KEY = "catalog_uploads"


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops reading a multipart upload once a file passes `limit` bytes, so a 100 MB file is
    refused without being stored; the view reads `.too_large` to say so."""

    def __init__(self, request=None, *, limit: int):
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.too_large = False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # The file parts alone may be under the limit while the body is a little over it.
        if content_length and content_length > self.limit + 64 * 1024:
            self.too_large = True
        return None

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.too_large or self.received > self.limit:
            self.too_large = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None


@dataclass(frozen=True, slots=True)
class StagedUpload:
    token: str
    filename: str
    catalog_name: str
    size: int


def _folder() -> Path:
    folder = Path(settings.DATA_DIR) / "catalog-uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _path(*, user_id: int, token: str) -> Path:
    return _folder() / f"{user_id}-{token}.upload"


def upload_stage(*, session, user_id: int, data: bytes, filename: str, catalog_name: str) -> StagedUpload:
    """Keep the uploaded bytes for the preview and import steps; returns its token."""
    _discard_stale()
    token = secrets.token_urlsafe(18)
    _path(user_id=user_id, token=token).write_bytes(data)
    uploads = dict(session.get(_SESSION_KEY, {}))
    uploads[token] = {"filename": filename[:200], "catalog_name": catalog_name[:200]}
    session[_SESSION_KEY] = uploads
    return StagedUpload(token=token, filename=filename, catalog_name=catalog_name, size=len(data))


def upload_get(*, session, user_id: int, token: str) -> tuple[StagedUpload, bytes] | None:
    """The staged upload if this session uploaded it and it is still there."""
    meta = session.get(_SESSION_KEY, {}).get(token)
    if meta is None or not _TOKEN.match(token):
        return None
    path = _path(user_id=user_id, token=token)
    if not path.exists():
        return None
    data = path.read_bytes()
    staged = StagedUpload(token=token, filename=meta["filename"], catalog_name=meta["catalog_name"], size=len(data))
    return staged, data


def upload_discard(*, session, user_id: int, token: str) -> None:
    uploads = dict(session.get(_SESSION_KEY, {}))
    uploads.pop(token, None)
    session[_SESSION_KEY] = uploads
    if _TOKEN.match(token):
        _path(user_id=user_id, token=token).unlink(missing_ok=True)


def _discard_stale() -> None:
    cutoff = time.time() - STALE_SECONDS
    for path in _folder().glob("*.upload"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except OSError:
            pass
