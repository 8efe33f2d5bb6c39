"""The engine: snapshot and streaming, built from the adapters; knows nothing of Dagster or the CLI."""
