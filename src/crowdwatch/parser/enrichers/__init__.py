"""Enrichment methods for parser `method:` statics (ENGINE.md §4.11)."""

from crowdwatch.parser.enrichers.dates import DEFAULT_LAYOUTS, format_rfc3339, parse_date, parse_go_layout
from crowdwatch.parser.enrichers.methods import Enrichers

__all__ = ["DEFAULT_LAYOUTS", "Enrichers", "format_rfc3339", "parse_date", "parse_go_layout"]
