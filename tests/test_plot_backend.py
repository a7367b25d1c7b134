"""Every `.plot()` (`Metrics.plot()`, `EvaluationReport.plot()`) leaves matplotlib's backend and
pyplot's figures alone when it saves a file, draws into `ax=` when given, and returns the Axes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from foundry_tune.errors import ConfigurationError, InvalidParameterError
from foundry_tune.evaluation import Completion, EvaluationReport, Target, evaluate
from foundry_tune.job import Metrics, metrics_from_csv

matplotlib = pytest.importorskip("matplotlib")
plt = pytest.importorskip("matplotlib.pyplot")
from matplotlib.axes import Axes  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
_SFT_CSV = (
    "step,train_loss,train_mean_token_accuracy,valid_loss,valid_mean_token_accuracy,full_valid_loss,"
    "full_valid_mean_token_accuracy\n"
    "1,2.5,0.41,2.6,0.40,,\n"
    "2,2.1,0.47,2.3,0.44,,\n"
    "3,1.7,0.55,1.9,0.50,1.9,0.52\n"
)
_RFT_CSV = (
    "step,train_loss,train_mean_token_accuracy,valid_loss,valid_mean_token_accuracy,full_valid_loss,"
    "full_valid_mean_token_accuracy,train_reward_mean,valid_reward_mean\n"
    "1,1.9,0.41,2.0,0.40,,,0.30,0.25\n"
    "2,1.6,0.47,1.8,0.44,,,0.41,0.38\n"
    "3,1.2,0.55,1.5,0.50,1.5,0.52,0.55,0.50\n"
)
ROWS = [{"messages": [{"role": "user", "content": f"ticket {i}"},
                      {"role": "assistant", "content": "billing"}]} for i in range(6)]


def _completer(target: Target, messages: Any) -> Completion:
    return Completion("billing" if "ft" in target.model else "shipping", 5, 1, 0.01)


def _report() -> EvaluationReport:
    targets = {"base": Target("gpt-4.1-mini"), "tuned": Target("gpt-4.1-mini.ft-abc")}
    return evaluate(targets, ROWS, "exact_match", completer=_completer, progress=False)


def _metrics_plot(**kwargs: Any) -> Any:
    return metrics_from_csv(_SFT_CSV).plot(**kwargs)


def _report_plot(**kwargs: Any) -> Any:
    return _report().plot(**kwargs)


PLOTS: list[Callable[..., Any]] = [_metrics_plot, _report_plot]


@pytest.fixture
def figures_closed() -> Iterator[None]:
    """No figure of another test is counted, and none of this one is left behind."""
    plt.close("all")
    backend = matplotlib.get_backend()
    try:
        yield
    finally:
        plt.close("all")
        matplotlib.use(backend)


def _inline_backend() -> str:
    pytest.importorskip("matplotlib_inline")
    pytest.importorskip("IPython")
    return "module://matplotlib_inline.backend_inline"


@pytest.mark.usefixtures("figures_closed")
@pytest.mark.parametrize("plot", PLOTS, ids=["Metrics", "EvaluationReport"])
@pytest.mark.parametrize("backend", ["svg", "inline"])
def test_saving_keeps_the_backend_and_pyplot_figures(plot: Callable[..., Any], backend: str,
                                                     tmp_path: Path) -> None:
    # A notebook's inline backend (or any other non-Agg one) must survive `.plot(path=...)`.
    matplotlib.use(_inline_backend() if backend == "inline" else backend)
    before = matplotlib.get_backend()
    plt.figure()  # the user's own figure, before and after
    figures = plt.get_fignums()
    ax = plot(path=tmp_path / "chart.png")
    assert matplotlib.get_backend() == before
    assert plt.get_fignums() == figures  # the saved figure is not one pyplot shows later
    assert isinstance(ax, Axes)
    assert (tmp_path / "chart.png").read_bytes()[:8] == PNG


@pytest.mark.usefixtures("figures_closed")
@pytest.mark.parametrize("plot", PLOTS, ids=["Metrics", "EvaluationReport"])
def test_draws_into_the_given_axes_and_saves_its_figure(plot: Callable[..., Any], tmp_path: Path) -> None:
    _, (left, right) = plt.subplots(1, 2)
    figures = plt.get_fignums()
    ax = plot(ax=right, path=str(tmp_path / "both.png"))
    assert ax is right
    assert right.lines or right.patches  # curves (metrics) or bars (report)
    assert not left.lines and not left.patches
    assert plt.get_fignums() == figures
    assert (tmp_path / "both.png").read_bytes()[:8] == PNG


@pytest.mark.usefixtures("figures_closed")
@pytest.mark.parametrize("plot", PLOTS, ids=["Metrics", "EvaluationReport"])
def test_without_path_or_ax_a_pyplot_figure_is_made_to_be_shown(plot: Callable[..., Any]) -> None:
    ax = plot()
    assert isinstance(ax, Axes)
    assert plt.get_fignums() == [ax.figure.number]  # type: ignore[union-attr]  # what a notebook shows


@pytest.mark.usefixtures("figures_closed")
def test_every_plot_returns_the_same_kind_of_object(tmp_path: Path) -> None:
    kinds = {type(plot(**kwargs)) for plot in PLOTS
             for kwargs in ({}, {"path": tmp_path / "x.png"}, {"ax": plt.subplots()[1]})}
    assert len(kinds) == 1 and issubclass(kinds.pop(), Axes)


@pytest.mark.usefixtures("figures_closed")
def test_positional_path_and_title_still_work(tmp_path: Path) -> None:
    # the demo's call: metrics.plot(path, title=...)
    ax = metrics_from_csv(_SFT_CSV).plot(tmp_path / "loss.png", title="job: loss")
    assert ax.get_title() == "job: loss"
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG
    report_ax = _report().plot(None, str(tmp_path / "eval.png"), title="base vs tuned")
    assert report_ax.get_title() == "base vs tuned"


@pytest.mark.parametrize("plot", PLOTS, ids=["Metrics", "EvaluationReport"])
def test_without_matplotlib_the_error_names_the_plot_extra(plot: Callable[..., Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ConfigurationError, match=r"pip install 'foundry-tune\[plot\]'"):
        plot()


@pytest.mark.usefixtures("figures_closed")
@pytest.mark.parametrize("plot", PLOTS, ids=["Metrics", "EvaluationReport"])
def test_bad_ax_or_path_is_a_typed_error(plot: Callable[..., Any]) -> None:
    fig, _ = plt.subplots()
    with pytest.raises(InvalidParameterError, match="ax must be a matplotlib Axes"):
        plot(ax=fig)
    with pytest.raises(InvalidParameterError, match="path must be a file name"):
        plot(path=3)


@pytest.mark.usefixtures("figures_closed")
def test_reinforcement_metrics_plot_their_rewards(tmp_path: Path) -> None:
    ax = metrics_from_csv(_RFT_CSV).plot(path=tmp_path / "reward.png")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train reward", "validation reward"]
    assert ax.get_ylabel() == "mean reward" and ax.get_title() == "fine-tuning reward"
    assert list(ax.lines[0].get_ydata()) == [0.30, 0.41, 0.55]


@pytest.mark.usefixtures("figures_closed")
def test_supervised_metrics_plot_their_losses_and_columns_pick_others(tmp_path: Path) -> None:
    metrics = metrics_from_csv(_SFT_CSV)
    ax = metrics.plot(path=tmp_path / "loss.png")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "train loss", "validation loss", "full validation loss"]
    assert ax.get_ylabel() == "loss"
    picked = metrics.plot(path=tmp_path / "acc.png", columns=["train_mean_token_accuracy"])
    assert [line.get_label() for line in picked.lines] == ["train_mean_token_accuracy"]
    with pytest.raises(InvalidParameterError, match="no values for 'train_reward_mean'"):
        metrics.plot(path=tmp_path / "none.png", columns="train_reward_mean")


@pytest.mark.usefixtures("figures_closed")
def test_no_metrics_yet_still_plots(tmp_path: Path) -> None:
    ax = Metrics([], source="events").plot(path=tmp_path / "empty.png")
    assert not ax.lines and (tmp_path / "empty.png").exists()
