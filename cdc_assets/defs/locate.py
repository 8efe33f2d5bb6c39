"""Finding the pipeline files Dagster should load, and merging their definitions."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from cdc_assets.defs.pipeline import pipeline_definitions
from cdc_assets.errors import ConfigError

PIPELINE_ENV = "CDC_ASSETS_PIPELINE"
STATE_DIR_ENV = "CDC_ASSETS_STATE_DIR"
DEFAULT_PIPELINE = "pipeline.yaml"

log = logging.getLogger("cdc_assets")


def pipeline_files(env: Mapping[str, str] | None = None) -> list[Path]:
    env = os.environ if env is None else env
    spec = env.get(PIPELINE_ENV, "").strip()
    entries = [Path(p) for p in spec.split(os.pathsep) if p.strip()] if spec else [Path(DEFAULT_PIPELINE)]
    files: list[Path] = []
    for entry in entries:
        if entry.is_dir():
            files += sorted([*entry.glob("*.yaml"), *entry.glob("*.yml")])
        elif entry.exists():
            files.append(entry)
        elif not spec:
            # Nothing configured and no default file: an empty code location, not a broken one.
            log.warning(
                "cdc_assets: no pipeline loaded: %s is unset and %s does not exist in %s; set %s to your "
                "pipeline YAML file(s)",
                PIPELINE_ENV,
                DEFAULT_PIPELINE,
                Path.cwd(),
                PIPELINE_ENV,
            )
        else:
            raise ConfigError(
                f"{PIPELINE_ENV}: pipeline file {str(entry)!r} does not exist; set {PIPELINE_ENV} to your "
                f"pipeline YAML file(s), separated by '{os.pathsep}'"
            )
    return files


def build_definitions(env: Mapping[str, str] | None = None) -> dg.Definitions:
    env = os.environ if env is None else env
    state_dir = env.get(STATE_DIR_ENV) or None
    return dg.Definitions.merge(
        *[pipeline_definitions(f.resolve(), state_dir=state_dir) for f in pipeline_files(env)]
    )
