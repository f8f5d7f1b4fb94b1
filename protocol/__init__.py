"""chatd's wire format, Sans-I/O: bytes in, typed frames out.

Nothing here does I/O or imports the server. The same schemas serve both codecs:
``chatd.v1.json`` (text frames) and ``chatd.v1.msgpack`` (binary frames).

Exception tree::

    ProtocolError            a frame the server must answer with an error frame
"""

from protocol.codec import SUBPROTOCOLS, Codec, codec_for
from protocol.errors import CloseCode, ErrorCode, ProtocolError

__all__ = ["SUBPROTOCOLS", "CloseCode", "Codec", "ErrorCode", "ProtocolError", "codec_for"]
