"""Local mode's patches of moto refuse a moto they were not written for."""

from __future__ import annotations

import pytest
from stackflow.errors import ConfigurationError
from stackflow_tools.local import patches


def test_the_installed_moto_is_the_one_the_patches_were_written_for() -> None:
    # GIVEN the moto this project pins / WHEN checked / THEN it is accepted
    patches.check_moto_version()


def test_another_moto_release_line_is_refused_with_a_clear_message() -> None:
    # GIVEN a moto from another release line
    # WHEN local mode checks it / THEN it refuses, naming both versions and the module
    with pytest.raises(ConfigurationError) as refused:
        patches.check_moto_version("6.0.0")
    message = str(refused.value)
    assert "moto 6.0.0" in message
    assert patches.MOTO_SERIES in message
    assert "patches.py" in message
