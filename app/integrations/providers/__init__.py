"""One module per external API. Every concrete `BaseApiProvider` here registers itself.

Modules starting with `_` hold shared helpers and are not scanned.
"""
