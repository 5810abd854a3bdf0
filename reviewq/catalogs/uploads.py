"""The upload's size limit, in place before anything reads the request body.

The bytes themselves are kept on a CatalogImport row (reviewq.catalogs.imports.jobs): the
worker that reads them may run on another host than the web process.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, StopUpload


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
