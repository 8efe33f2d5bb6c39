"""How pipelines and tables are named in Dagster."""

from __future__ import annotations

import re
import zlib

import dagster as dg

from cdc_assets.core.schema import TableId


def ident(text: str) -> str:
    """``text`` as a Dagster name (letters, digits and underscores)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _key_part(name: str) -> str:
    # Dagster names an asset's op (and its checks' ops) after the key with '-' and '.' replaced, and
    # refuses the definitions if another character is outside [A-Za-z0-9_]: such a name becomes '_' for
    # each of those characters plus the CRC-32 of the name (two names that differ only there stay apart).
    if _PLAIN_KEY_PART.fullmatch(name):
        return name
    return f"{_NOT_KEY_CHAR.sub('_', name)}_{zlib.crc32(name.encode('utf-8')):08x}"


_PLAIN_KEY_PART = re.compile(r"[A-Za-z0-9_.-]+")
_NOT_KEY_CHAR = re.compile(r"[^A-Za-z0-9_.-]")


def table_asset_key(target: TableId) -> dg.AssetKey:
    """The asset of a target table: its snapshot partitions and the stream's materializations. Key
    ``[db, table]``; a name with characters Dagster cannot name an op with (a space, ``$``, non-ASCII)
    has them as ``_`` and a hash appended (the asset's metadata names the table as it is)."""
    return dg.AssetKey([_key_part(target.db), _key_part(target.table)])


def schema_asset_key(target: TableId) -> dg.AssetKey:
    """The schema of a target table: materialized by the streaming op at every schema change."""
    return dg.AssetKey([*table_asset_key(target).path, "schema"])
