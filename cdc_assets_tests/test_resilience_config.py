"""The project's own source options for purged binlogs and lag near binlog retention."""

from __future__ import annotations

import pytest

from cdc_assets.config.models import BinlogPurgedAction
from cdc_assets_tests.test_config import config_error, doc, parse


def test_defaults_fail_on_purged_binlog_and_warn_at_half_the_retention() -> None:
    src = parse(doc()).source
    assert src.binlog_purged_action is BinlogPurgedAction.FAIL
    assert src.retention_warning_ratio == 0.5


def test_values_are_read() -> None:
    src = parse(
        doc(source="  scan.binlog.purged.action: ReSnapshot\n  scan.binlog.retention-warning.ratio: 0.8\n")
    ).source
    assert src.binlog_purged_action is BinlogPurgedAction.RESNAPSHOT
    assert src.retention_warning_ratio == 0.8
    assert (
        parse(doc(source="  scan.binlog.retention-warning.ratio: 0\n")).source.retention_warning_ratio == 0.0
    )


@pytest.mark.parametrize(
    ("source", "key", "message"),
    [
        (
            "  scan.binlog.purged.action: skip\n",
            "source.scan.binlog.purged.action",
            "expected one of: fail, resnapshot",
        ),
        (
            "  scan.binlog.retention-warning.ratio: 1.5\n",
            "source.scan.binlog.retention-warning.ratio",
            "between 0 and 1",
        ),
        (
            "  scan.binlog.retention-warning.ratio: half\n",
            "source.scan.binlog.retention-warning.ratio",
            "expected a number",
        ),
    ],
)
def test_bad_values_name_the_key(source: str, key: str, message: str) -> None:
    text = str(config_error(doc(source=source)))
    assert key in text and message in text
