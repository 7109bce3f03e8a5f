"""An answer's ``Content-Encoding`` undone a little at a time, so its size cap holds on decoded bytes.

Both transports hand over the body's raw bytes (requests' ``raw.stream(decode_content=False)``, httpx's
``aiter_raw``) and decode here, because neither library bounds what it decodes: httpx inflates a whole
chunk before anyone sees it (a 1.8 KB answer with ``Content-Encoding: gzip, gzip`` becomes 1 GiB), and
urllib3 bounds it only from 2.6. :class:`BodyDecoder` gives its output in pieces of at most
:data:`DECODED_PIECE_BYTES`, each layer of a stacked encoding alike, so the caller can stop at its cap
having held no more than one piece beyond it.

The client asks for ``gzip`` and ``deflate`` only (:data:`ACCEPT_ENCODING`); an answer in any other coding
cannot be read and is refused before its body is. Stdlib only.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

ACCEPT_ENCODING = "gzip, deflate"
DECODED_PIECE_BYTES = 64 * 1024
_GZIP = ("gzip", "x-gzip")
_DEFLATE = ("deflate",)
_IDENTITY = ("identity", "")


class EncodingError(Exception):
    """An answer whose encoding cannot be undone: a coding not asked for, or bytes that are not one."""


class _Inflater:
    """One layer: gzip (any number of members) or deflate (zlib-wrapped, or raw as some servers send)."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._raw_deflate = False
        self._started = False
        self._inflater = self._new()

    def _new(self) -> zlib._Decompress:
        if self.coding in _GZIP:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)

    def decode(self, data: bytes) -> Iterator[bytes]:
        while data:
            try:
                piece = self._inflater.decompress(data, DECODED_PIECE_BYTES)
            except zlib.error as error:
                if self.coding in _DEFLATE and not self._started and not self._raw_deflate:
                    self._raw_deflate = True  # deflate without its zlib wrapper
                    self._inflater = self._new()
                    continue
                raise EncodingError(f"a body that is not valid {self.coding}: {error}") from None
            self._started = True
            if piece:
                yield piece
            if self._inflater.unconsumed_tail:  # the piece was full: more of this input to inflate
                data = self._inflater.unconsumed_tail
            elif self.coding in _GZIP and self._inflater.eof and self._inflater.unused_data.strip():
                data = self._inflater.unused_data  # the next gzip member
                self._inflater = self._new()
            else:
                data = b""

    def finish(self) -> Iterator[bytes]:
        rest = self._inflater.flush()  # at most what one deflate match left pending
        if rest:
            yield rest


class BodyDecoder:
    """Undoes ``Content-Encoding`` (``"gzip, gzip"``: applied in that order, undone in reverse)."""

    def __init__(self, content_encoding: str | None) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        unknown = [c for c in codings if c not in (*_GZIP, *_DEFLATE, *_IDENTITY)]
        if unknown:
            raise EncodingError(
                f"a Content-Encoding of {', '.join(unknown)}, which was not asked for ({ACCEPT_ENCODING})"
            )
        self.layers = [_Inflater(c) for c in reversed(codings) if c not in _IDENTITY]

    def decode(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of ``data``, the next raw piece of the body, in pieces."""
        return self._through(0, data) if self.layers else iter((data,) if data else ())

    def finish(self) -> Iterator[bytes]:
        """What the layers still hold once the body has ended."""
        for index, layer in enumerate(self.layers):
            for rest in layer.finish():
                yield from self._through(index + 1, rest)

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self.layers):
            yield data
            return
        for piece in self.layers[index].decode(data):
            yield from self._through(index + 1, piece)
