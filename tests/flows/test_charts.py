"""Charts render offline as PNG, one per metric, and a markdown artifact embeds them."""

import pandas as pd

from flows.charts import CHARTS, charts_markdown, render_charts, write_charts

PNG = b"\x89PNG\r\n\x1a\n"


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "endpoint": ["a"] * 3 + ["b"] * 3,
            "clients": [1, 2, 4] * 2,
            "time_to_first_token-p50": [0.1, 0.12, None, 0.2, 0.25, 0.3],
            "requests_per_minute": [100, 190, 350, 90, 170, 300],
            "failed_requests_rate": [0, 0, 0.5, 0, 0.1, 0.2],
        }
    )


def test_every_chart_is_a_png_even_with_missing_columns_and_gaps():
    pngs = render_charts(_frame())
    assert set(pngs) == {c.name for c in CHARTS if not c.optional}  # no pricing: no cost chart
    assert all(data.startswith(PNG) for data in pngs.values())


def test_series_draws_one_line_per_endpoint():
    single = render_charts(_frame())["requests-per-minute"]
    per_endpoint = render_charts(_frame(), series="endpoint")["requests-per-minute"]
    assert single != per_endpoint


def test_written_files_and_markdown(tmp_path):
    pngs = render_charts(_frame())
    urls = write_charts(pngs, str(tmp_path), prefix="x-")
    assert (tmp_path / "charts" / "x-ttft.png").read_bytes() == pngs["ttft"]
    markdown = charts_markdown("Sweep", pngs, urls)
    assert markdown.count("data:image/png;base64,") == len(pngs)
    assert str(tmp_path / "charts" / "x-error-rate.png") in markdown


def test_cost_chart_when_the_sweep_has_prices():
    frame = _frame().assign(cost_per_1m_output_tokens=[2.0, 2.1, None, 3.0, 3.1, 3.2])
    pngs = render_charts(frame, series="endpoint")
    assert pngs["cost"].startswith(PNG)
