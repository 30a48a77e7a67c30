"""The wire between the daemon and an extractor process: length-prefixed frames.

  request:  u32 length, JSON `Request`
  reply:    u32 header length, u64 text length, JSON header, UTF-8 text

A header is {"ok": true, ...Extraction.header()} or {"ok": false, "reason",
"message"}; the first reply, once the process has loaded its parsers, is
{"ok": true, "ready": true}. All lengths are big-endian.

Replies are JSON and raw text, never pickle: a parser exploited by a crafted file
must not be able to run code in the daemon through what it sends back.
"""

from __future__ import annotations

import struct

REQUEST = struct.Struct(">I")
REPLY = struct.Struct(">IQ")
EXTRACTOR_MODULE = "syncd.handlers.documents.extractor_process"
DEFAULT_FUNCTION = "syncd.handlers.documents.file_to_text:extract"
