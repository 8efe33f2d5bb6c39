"""The captured tables as last discovered, kept in the state folder (``catalog.json``).

Dagster builds its definitions (one asset per table) whenever the code location loads; reading the
list from here keeps that from waiting on, or failing with, the source server. The list is
refreshed by every sync and by the snapshot planner sensor; when it does not exist yet, one quick
discovery is attempted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Mapping

from cdc_assets.config import PipelineConfig
from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.errors import CdcError

CATALOG_FILE = "catalog.json"


def save_catalog(cfg: PipelineConfig, schemas: Mapping[TableId, TableSchema]) -> None:
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    data = {"version": 1, "tables": sorted(str(t) for t in schemas)}
    fd, tmp = tempfile.mkstemp(dir=cfg.state_dir, prefix=".catalog-")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, cfg.state_dir / CATALOG_FILE)


def load_catalog(cfg: PipelineConfig) -> list[TableId] | None:
    path = cfg.state_dir / CATALOG_FILE
    if not path.exists():
        return None
    return [TableId.parse(t) for t in json.loads(path.read_text())["tables"]]


def known_tables(cfg: PipelineConfig) -> list[TableId]:
    """Tables from the cached catalog; with none cached, a quick discovery (failures give [])."""
    cached = load_catalog(cfg)
    if cached is not None:
        return cached
    from cdc_assets.engine.context import RunContext

    try:
        ctx = RunContext(cfg)
        try:
            ctx.settings = dataclasses.replace(ctx.settings, connect_timeout=5.0)
            schemas = ctx.discover()
        finally:
            ctx.close()
    except CdcError:
        return []
    save_catalog(cfg, schemas)
    return sorted(schemas)
