"""The ``UnmarshalJSON`` enricher: decode ``evt.Line.Raw`` into ``evt.Unmarshaled``."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from crowdwatch.event import Event

log = logging.getLogger(__name__)


def go_json_value(value: Any) -> Any:
    """A decoded JSON value as Go decodes it into ``any``: every number is a float."""
    if isinstance(value, dict):
        return {k: go_json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [go_json_value(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def unmarshal_line(evt: Event) -> None:
    """Merge the top-level keys of the JSON object in ``evt.Line.Raw`` into
    ``evt.Unmarshaled`` (Go's ``json.Unmarshal`` into an existing map; ``null`` empties
    it). Invalid JSON or a non-object value is logged at debug level and ignored."""
    try:
        data = orjson.loads(evt.Line.Raw)
    except orjson.JSONDecodeError as exc:
        log.debug("UnmarshalJSON: invalid JSON in line: %s", exc)
        return
    if data is None:  # Go sets the map to nil
        evt.Unmarshaled = {}
        return
    if not isinstance(data, dict):
        log.debug("UnmarshalJSON: line is JSON %s, not an object", type(data).__name__)
        return
    for key, value in data.items():
        evt.Unmarshaled[key] = go_json_value(value)
