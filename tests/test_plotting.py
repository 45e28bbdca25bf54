import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from scalinglab.base.plotting import loglog, save_figure, use_style  # noqa: E402


def test_figures_are_saved_as_png_and_svg_with_identical_bytes(tmp_path):
    use_style()

    def draw(folder):
        fig, ax = plt.subplots()
        ax.plot([1e3, 1e4, 1e5, 1e6], [4.0, 3.0, 2.5, 2.2], marker="o")
        loglog(ax)
        paths = save_figure(fig, folder, "test2020_plot", "loss")
        plt.close(fig)
        return paths

    first = draw(tmp_path / "a")
    second = draw(tmp_path / "b")
    assert [p.name for p in first] == ["loss.png", "loss.svg"]
    assert first[0].parent == tmp_path / "a" / "figures" / "test2020_plot"
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()


def test_log_ticks_read_as_powers_of_ten():
    use_style()
    fig, ax = plt.subplots()
    ax.plot([1e2, 1e6], [1, 10])
    loglog(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    plt.close(fig)
    assert "$10^{4}$" in labels and "100" in labels
