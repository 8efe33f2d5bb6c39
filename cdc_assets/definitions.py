"""The Dagster code location: ``workspace.yaml`` points here.

Pipelines come from the environment variable ``CDC_ASSETS_PIPELINE``: one or more pipeline YAML
files or folders of them (``*.yaml`` / ``*.yml``), separated by ``:``. Default: ``pipeline.yaml`` in
the working directory. ``CDC_ASSETS_STATE_DIR`` overrides every pipeline's state folder (rarely
wanted with several pipelines). The variable is read when Dagster loads the code location, not at
import time.
"""

from __future__ import annotations

import dagster as dg

from cdc_assets.defs.locate import build_definitions


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
