"""Time series: the Air Quality and Google stock CSVs as published, splits and windows without leakage."""
import numpy as np
import pytest

from deepstudy.data import series
from deepstudy.errors import UserError


def test_air_quality_as_published(shared_data):
    s = series.read_air_quality(shared_data / "air-quality")
    assert s.values.shape == (9357, 13) and s.columns[0] == "CO(GT)" and s.columns[-1] == "AH"
    assert int(np.isnan(s.values).sum()) == 16701  # the -200 cells SOURCE.md counts
    assert str(s.times[0]) == "2004-03-10T18:00:00" and str(s.times[-1]) == "2005-04-04T14:00:00"
    assert (np.diff(s.times) == np.timedelta64(3600, "s")).all()  # hourly, no gaps in the index
    assert s.values[0, 0] == pytest.approx(2.6) and s.values[0, -1] == pytest.approx(0.7578)
    split = series.chronological_split(len(s.values), val=0.1, test=0.2)
    sparse = series.drop_sparse(s, split["train"])
    assert "NMHC(GT)" not in sparse.columns and "NMHC(GT)" in sparse.notes[-1]


def test_google_stock_thousands_separators(shared_data):
    s = series.read_csv_series(shared_data / "dl-az" / "Google_Stock_Price_Train.csv")
    assert s.columns == ["Open", "High", "Low", "Close", "Volume"]
    assert s.values[0].tolist() == [325.25, 332.83, 324.97, 663.59, 7380500.0] and str(s.times[0]) == "2012-01-03T00:00:00"


def test_split_impute_scale_and_windows_never_look_ahead():
    values = np.arange(100, dtype=float).reshape(50, 2)
    values[10, 0] = np.nan
    values[34:36, 1] = np.nan  # a gap right at the start of the test period
    parts = series.chronological_split(50, val=0.2, test=0.3)
    assert (parts["train"], parts["val"], parts["test"]) == (slice(0, 25), slice(25, 35), slice(35, 50))
    train = series.impute(values[parts["train"]])
    assert train[10, 0] == pytest.approx((values[9, 0] + values[11, 0]) / 2)
    test = values[parts["test"]].copy()
    later = values.copy()
    later[parts["test"]] += 1000  # the future changes: the training period's numbers must not
    assert np.array_equal(series.impute(later[parts["train"]]), train)
    mean, std = series.fit_scaler(values[parts["train"]])
    assert np.allclose(mean, np.nanmean(values[:25], 0)) and series.fit_scaler(later[parts["train"]])[0].tolist() == mean.tolist()
    x, y = series.windows(series.impute(test), lookback=4, horizon=2, stride=3, targets=[1])
    assert x.shape == (4, 4, 2) and y.shape == (4, 2, 1)  # starts 0, 3, 6, 9 of 15 steps
    assert np.array_equal(y[1, :, 0], series.impute(test)[7:9, 1])
    with pytest.raises(UserError, match="shorter than lookback"):
        series.windows(test, lookback=14, horizon=2)


def test_bad_series_files(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("Date,A\n2020-01-02,1\n2020-01-01,2\n")
    with pytest.raises(UserError, match="not strictly increasing"):
        series.read_csv_series(f)
    f.write_text("Date,A\n2020-01-01,1\nyesterday,2\n")
    with pytest.raises(UserError, match="cannot read the time 'yesterday'"):
        series.read_csv_series(f)
