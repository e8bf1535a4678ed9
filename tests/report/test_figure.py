"""The one way figures are written: a PNG at the path, and no figure left open, also when drawing fails."""

import matplotlib.pyplot as plt
import pytest

from leanspeech.report.figure import saved_figure


def test_a_figure_is_written_and_closed(tmp_path):
    before = plt.get_fignums()
    with saved_figure(tmp_path / "a.png", 1, 2, figsize=(4, 2)) as (fig, axes):
        assert len(axes) == 2
        axes[0].plot([0, 1], [1, 0])
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == before


def test_a_failing_plot_writes_nothing_and_leaves_no_figure_open(tmp_path):
    before = plt.get_fignums()
    with pytest.raises(ValueError, match="bad data"):
        with saved_figure(tmp_path / "b.png") as (fig, ax):
            raise ValueError("bad data")
    assert not (tmp_path / "b.png").exists() and plt.get_fignums() == before
