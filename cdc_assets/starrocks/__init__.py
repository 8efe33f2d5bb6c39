"""The StarRocks sink adapter: FE SQL (DDL, reads), the Stream Load client, and the sink itself."""

from cdc_assets.starrocks.sink import StarRocksSink

__all__ = ["StarRocksSink"]
