"""The pure core: no sockets, no clock, no drivers, no Dagster. Tested without any server."""
