"""How pipelines and tables are named in Dagster."""

from __future__ import annotations

import re

import dagster as dg

from cdc_assets.core.schema import TableId


def ident(text: str) -> str:
    """``text`` as a Dagster name (letters, digits and underscores)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def table_asset_key(target: TableId) -> dg.AssetKey:
    """The asset of a target table: its snapshot partitions and the stream's materializations."""
    return dg.AssetKey([target.db, target.table])


def schema_asset_key(target: TableId) -> dg.AssetKey:
    """The schema of a target table: materialized by the streaming op at every schema change."""
    return dg.AssetKey([target.db, target.table, "schema"])
