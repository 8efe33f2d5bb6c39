"""cdc_assets: MySQL -> StarRocks / DuckDB change data capture, orchestrated by Dagster."""

__version__ = "0.1.0"
