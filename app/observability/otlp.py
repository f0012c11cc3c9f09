"""The OTLP protobuf encoding of our spans: one `ExportTraceServiceRequest` per batch.

Written by hand because the SDK's encoder builds a protobuf object per span, attribute and
value (about 32 us a span, more than a span is allowed to cost in all). Ours writes the wire
format directly, and our spans repeat themselves: the same provider names, methods, statuses
and redacted URLs, so the encoding of each (key, value) pair and of each span name is kept
(bounded caches), an attribute set spans share (`SharedAttributes`) is encoded once, and a
span's fixed-size fields go out in one `struct.pack`.

Protobuf lets fields come in any order; a span's fixed fields are written first, together.
What the messages hold (opentelemetry-proto, trace/v1 and common/v1):

    ExportTraceServiceRequest  1: ResourceSpans
    ResourceSpans              1: Resource {1: KeyValue*}   2: ScopeSpans
    ScopeSpans                 1: InstrumentationScope {1: name}   2: Span*
    Span   1 trace_id, 2 span_id, 3 trace_state, 4 parent_span_id, 5 name, 6 kind,
           7/8 start/end (fixed64), 9 KeyValue*, 10 dropped attributes, 11 Event*,
           14 dropped links, 15 Status {2 message, 3 code}, 16 flags (fixed32)
    KeyValue {1 key, 2 AnyValue}   AnyValue {1 string, 2 bool, 3 int64, 4 double, 5 array}

Values an attribute may not hold (None, a mapping, an object) are left out and counted in
the span's dropped-attributes count; an int beyond 64 bits goes as its decimal string.
"""

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from app.core.spans import LightSpan, SharedAttributes

_CACHE_SIZE = 4096  # distinct (key, value) pairs kept encoded; cleared when full
_NAMES_SIZE = 512

_INT64 = 1 << 63
_DOUBLE = struct.Struct("<d")
# A span's fixed-size fields: trace_id, span_id, parent_span_id (field tag and length, then
# the bytes), kind, start and end (fixed64), flags (fixed32); a root has no parent.
_TIMES = struct.Struct("<2sBQBQ6s")
_CHILD = struct.Struct("<2s16s2s8s2s8s" + _TIMES.format[1:])
_ROOT = struct.Struct("<2s16s2s8s" + _TIMES.format[1:])
_FRAMED_CHILD = struct.Struct("<BBB" + _CHILD.format[1:])  # with its frame: tag, 2-byte length
_KINDS = {kind: bytes((0x30, kind.value + 1)) for kind in SpanKind}  # OTLP's INTERNAL is 1
# Field 16 (flags, fixed32): SpanFlags, as the SDK's encoder sets them.
_LOCAL_PARENT = b"\x85\x01" + struct.pack("<I", 0x100)
_REMOTE_PARENT = b"\x85\x01" + struct.pack("<I", 0x300)
_BYTES = [bytes((n,)) for n in range(128)]


def varint(value: int) -> bytes:
    """Protobuf's base-128 varint (of a non-negative int, or an int64 as 10 bytes)."""
    if 0 <= value < 128:
        return _BYTES[value]
    if 0 < value < 16384:  # a span's length, most often
        return bytes((value & 0x7F | 0x80, value >> 7))
    value &= (1 << 64) - 1  # a negative int64 is its two's complement
    out = bytearray()
    while value >= 128:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field: `tag` (field number << 3 | 2), the length, the bytes."""
    return _BYTES[tag] + varint(len(payload)) + payload


def _text(value: str) -> bytes:
    # Protobuf strings must be UTF-8: a lone surrogate would make a collector refuse the batch.
    return value.encode("utf-8", "replace")


def any_value(value: object) -> bytes | None:
    """An `AnyValue`'s bytes; None when an attribute may not hold `value`."""
    if isinstance(value, str):
        return field(0x0A, _text(value))
    if isinstance(value, bool):  # before int: a bool is an int
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        if -_INT64 <= value < _INT64:
            return b"\x18" + varint(value)
        return field(0x0A, str(value).encode())
    if isinstance(value, float):
        return b"\x21" + _DOUBLE.pack(value)
    if isinstance(value, bytes):
        return field(0x3A, value)
    if isinstance(value, Sequence):
        items = [any_value(item) for item in value]
        if any(item is None for item in items):
            return None
        return field(0x2A, b"".join(field(0x0A, item) for item in items if item is not None))
    return None


def key_value(key: str, value: object) -> bytes | None:
    """A `KeyValue` message; None when an attribute may not hold `value`."""
    encoded = any_value(value)
    if encoded is None:
        return None
    return field(0x0A, _text(key)) + field(0x12, encoded)


class Encoder:
    """Encodes batches of spans of one resource and scope. One thread uses it (the export
    thread): its caches take no lock."""

    def __init__(self, resource: Mapping[str, AttributeValue], scope: str) -> None:
        pairs = (key_value(k, v) for k, v in resource.items())
        resource_message = b"".join(field(0x0A, kv) for kv in pairs if kv is not None)
        self._resource = field(0x0A, resource_message)
        self._scope = field(0x0A, field(0x0A, _text(scope)))
        # Encoded attributes (field 9 of a span), by (key, value) when the value is a str:
        # no value of another type equals a str. Others by (key, value, type), as
        # True == 1 == 1.0 would share an entry.
        self._strs: dict[tuple[str, object], bytes] = {}
        self._others: dict[tuple[str, object, type], bytes] = {}
        self._names: dict[str, bytes] = {}
        # `SharedAttributes` by id: (the mapping, which keeps its id from being reused while
        # here; its encoded attributes; how many were left out).
        self._blocks: dict[int, tuple[SharedAttributes, bytes, int]] = {}

    def encode(self, spans: Iterable[LightSpan]) -> bytes:
        """The `ExportTraceServiceRequest` of `spans`."""
        out: list[bytes] = []  # every span's pieces, joined once
        append, strs, others, names = out.append, self._strs, self._others, self._names
        blocks = self._blocks
        for span in spans:
            at = len(out)
            append(b"")  # its frame and fixed fields, packed once its length is known
            name = names.get(span.name) or self._name(span.name)
            append(name)
            size, dropped = len(name), 0
            attributes = span.attributes
            if attributes.__class__ is SharedAttributes:  # encoded once, kept by identity
                found = blocks.get(id(attributes))
                if found is None or found[0] is not attributes:
                    found = self._block(attributes)
                append(found[1])
                size += len(found[1])
                dropped = found[2]
            else:
                try:
                    for item in attributes.items():
                        encoded = strs.get(item)
                        if encoded is None:
                            value = item[1]
                            encoded = others.get((item[0], value, value.__class__))
                            if encoded is None:
                                encoded = self._pair(item)
                                if encoded is None:
                                    dropped += 1
                                    continue
                        append(encoded)
                        size += len(encoded)
                except TypeError:  # an unhashable value (a list): this span's uncached
                    del out[at + 2 :]
                    dropped = self._uncached(attributes, 0x4A, out)
                    size = sum(map(len, out[at + 1 :]))
            if dropped:
                append(b"\x50" + varint(dropped))
                size += len(out[-1])
            if span.events or span.dropped_links or span.trace_state or span.status:
                size += self._rare(span, out)
            parent = span.parent_id
            flags = _REMOTE_PARENT if span.parent_remote else _LOCAL_PARENT
            size += _CHILD.size if parent else _ROOT.size
            if parent and 128 <= size < 16384:  # nearly every span: one pack, frame included
                out[at] = _FRAMED_CHILD.pack(
                    0x12, size & 0x7F | 0x80, size >> 7,
                    b"\x0a\x10", span.trace_id.to_bytes(16, "big"),
                    b"\x12\x08", span.span_id.to_bytes(8, "big"),
                    b"\x22\x08", parent.to_bytes(8, "big"),
                    _KINDS[span.kind], 0x39, span.start_time, 0x41, span.end_time, flags,
                )  # fmt: skip
            else:
                out[at] = b"\x12" + varint(size) + self._fixed(span, flags)
        scope_spans = self._scope + b"".join(out)
        resource_spans = self._resource + field(0x12, scope_spans)
        return field(0x0A, resource_spans)

    @staticmethod
    def _fixed(span: LightSpan, flags: bytes) -> bytes:
        """A span's fixed-size fields, without its frame."""
        ids = [b"\x0a\x10", span.trace_id.to_bytes(16, "big"), b"\x12\x08"]
        ids.append(span.span_id.to_bytes(8, "big"))
        if span.parent_id:
            ids += (b"\x22\x08", span.parent_id.to_bytes(8, "big"))
        times = _TIMES.pack(_KINDS[span.kind], 0x39, span.start_time, 0x41, span.end_time, flags)
        return b"".join(ids) + times

    def _rare(self, span: LightSpan, out: list[bytes]) -> int:
        """The fields most spans don't have: events, links, trace state, status; appended to
        `out`, their length returned."""
        parts: list[bytes] = []
        for event_name, at, attributes in span.events or ():
            event = [b"\x09" + struct.pack("<Q", at), field(0x12, _text(event_name))]
            left_out = self._uncached(attributes, 0x1A, event)
            if left_out:
                event.append(b"\x20" + varint(left_out))
            parts.append(field(0x5A, b"".join(event)))
        if span.dropped_links:
            parts.append(b"\x70" + varint(span.dropped_links))
        if span.trace_state:
            parts.append(field(0x1A, _text(span.trace_state.to_header())))
        status = span.status
        if status is not None:
            message = field(0x12, _text(status.description)) if status.description else b""
            parts.append(field(0x7A, message + b"\x18" + varint(status.status_code.value)))
        out.extend(parts)
        return sum(map(len, parts))

    def _pair(self, item: tuple[str, object]) -> bytes | None:
        """An attribute not in `_strs`: from `_others`, or encoded (and kept)."""
        key, value = item
        if value.__class__ is str:
            cache: dict[Any, bytes] = self._strs
            entry: Any = item
        else:
            cache, entry = self._others, (key, value, value.__class__)
            found = cache.get(entry)
            if found is not None:
                return found
        pair = key_value(key, value)
        if pair is None:
            return None
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        encoded = cache[entry] = field(0x4A, pair)
        return encoded

    @staticmethod
    def _uncached(attributes: Mapping[str, object], tag: int, out: list[bytes]) -> int:
        """Appends each attribute as field `tag` to `out`; how many were left out."""
        dropped = 0
        for key, value in attributes.items():
            pair = key_value(key, value)
            if pair is None:
                dropped += 1
            else:
                out.append(field(tag, pair))
        return dropped

    def _block(self, attributes: SharedAttributes) -> tuple[SharedAttributes, bytes, int]:
        parts: list[bytes] = []
        dropped = self._uncached(attributes, 0x4A, parts)
        if len(self._blocks) >= _CACHE_SIZE:
            self._blocks.clear()
        found = self._blocks[id(attributes)] = (attributes, b"".join(parts), dropped)
        return found

    def _name(self, name: str) -> bytes:
        if len(self._names) >= _NAMES_SIZE:
            self._names.clear()
        encoded = self._names[name] = field(0x2A, _text(name))
        return encoded
