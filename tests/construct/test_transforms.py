"""Every feature transform on tiny hand-written columns, against hand-computed outputs.

Features go through ``process_feature`` (parse -> impute -> fit -> apply) and the
fitted *record* is re-applied to new rows, as inference does.
"""

import json
import math

import numpy as np
import pyarrow as pa
import pytest
from scipy.special import erf, erfinv

from graphkit.construct.features import process_feature
from graphkit.errors import ConfigError, InputDataError
from graphkit.schema.gconstruct import parse_graph_config
from graphkit.storage.tables import RowSource, Table


def table(**cols) -> Table:
    data = pa.table(cols)
    return Table(data=data, source=RowSource(("mem.csv",), (0,), data.num_rows))


def feature(**entry):
    """A FeatureSpec parsed from one feature entry of a gconstruct config."""
    cfg = parse_graph_config({
        "nodes": [{"node_type": "n", "node_id_col": "id", "format": {"name": "csv"}, "files": ["n.csv"],
                   "features": [entry]}],
        "edges": [{"relation": ["n", "r", "n"], "source_id_col": "s", "dest_id_col": "d",
                   "format": {"name": "csv"}, "files": ["e.csv"]}],
    })
    return cfg.nodes[0].features[0]


def fit(tbl, spec):
    res = process_feature(tbl, spec, None)
    # The record is stored as JSON in transforms.json: it must survive a round trip.
    rec = json.loads(json.dumps(res.record))
    return res.outputs, rec


def apply(tbl, spec, rec):
    return process_feature(tbl, spec, None, record=rec).outputs


def col(values, typ=None):
    return pa.array(values, type=typ)


# --- no-op -----------------------------------------------------------------------------------

def test_noop_casts_to_float32_as_a_column():
    out, _ = fit(table(a=col([1, 2, 3])), feature(feature_col="a"))
    x = out["a"]
    assert x.dtype == np.float32 and x.shape == (3, 1)
    np.testing.assert_array_equal(x, [[1], [2], [3]])


@pytest.mark.parametrize("dtype", ["float16", "float64", "int8", "int64"])
def test_noop_out_dtype(dtype):
    out, rec = fit(table(a=col([1.0, -2.0, 7.0])), feature(feature_col="a", out_dtype=dtype))
    assert out["a"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out["a"], np.array([[1], [-2], [7]], dtype=dtype))
    assert rec["outputs"] == {"a": {"dtype": dtype, "shape": [1]}}


def test_noop_separator_parses_text_into_numbers():
    spec = feature(feature_col="v", transform={"name": "no-op", "separator": "|"})
    out, _ = fit(table(v=col(["1|2|3", "4.5| 5|-6"])), spec)
    np.testing.assert_array_equal(out["v"], np.array([[1, 2, 3], [4.5, 5, -6]], dtype=np.float32))


def test_noop_ragged_separator_text_is_an_error():
    spec = feature(feature_col="v", transform={"name": "no-op", "separator": "|"})
    with pytest.raises(InputDataError, match="ragged"):
        fit(table(v=col(["1|2|3", "4|5"])), spec)


def test_truncate_dim_on_a_list_column():
    lists = col([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]], pa.list_(pa.float32()))
    out, _ = fit(table(emb=lists), feature(feature_col="emb", truncate_dim=2))
    np.testing.assert_array_equal(out["emb"], [[1, 2], [5, 6]])
    assert out["emb"].shape == (2, 2)


def test_truncate_dim_with_separator():
    spec = feature(feature_col="v", truncate_dim=1, transform={"name": "no-op", "separator": ","})
    out, _ = fit(table(v=col(["1,2", "3,4"])), spec)
    np.testing.assert_array_equal(out["v"], [[1], [3]])


def test_multi_column_features_are_stacked_in_order():
    spec = feature(feature_col=["b", "a"], feature_name="ba")
    out, _ = fit(table(a=col([1, 2]), b=col([10, 20])), spec)
    np.testing.assert_array_equal(out["ba"], [[10, 1], [20, 2]])


def test_noop_missing_value_without_imputer_names_the_row():
    with pytest.raises(InputDataError, match="row 1.*no imputer"):
        fit(table(a=col([1.0, None, 3.0])), feature(feature_col="a"))


# --- max_min_norm ---------------------------------------------------------------------------

def test_max_min_norm_fits_min_and_max():
    spec = feature(feature_col="x", transform={"name": "max_min_norm"})
    out, rec = fit(table(x=col([2.0, 4.0, 6.0, 10.0])), spec)
    assert rec["state"] == {"max": [10.0], "min": [2.0]}
    assert out["x"].dtype == np.float32
    np.testing.assert_allclose(out["x"], [[0], [0.25], [0.5], [1]])


def test_max_min_norm_clips_new_rows_with_the_fitted_state():
    spec = feature(feature_col="x", transform={"name": "max_min_norm"})
    _, rec = fit(table(x=col([2.0, 4.0, 6.0, 10.0])), spec)
    new = apply(table(x=col([0.0, 6.0, 12.0, 3.0])), spec, rec)
    np.testing.assert_allclose(new["x"], [[0], [0.5], [1], [0.125]])


def test_max_min_norm_bounds_cap_the_fitted_extremes():
    spec = feature(feature_col="x", transform={"name": "max_min_norm", "max_bound": 8, "min_bound": 3})
    out, rec = fit(table(x=col([2.0, 4.0, 6.0, 10.0])), spec)
    assert rec["state"] == {"max": [8.0], "min": [3.0]}
    np.testing.assert_allclose(out["x"], [[0], [0.2], [0.6], [1]], rtol=1e-6)


def test_max_min_norm_bounds_that_do_not_bind():
    spec = feature(feature_col="x", transform={"name": "max_min_norm", "max_bound": 100.0, "min_bound": -100.0})
    _, rec = fit(table(x=col([2.0, 10.0])), spec)
    assert rec["state"] == {"max": [10.0], "min": [2.0]}


def test_max_min_norm_fixed_values_replace_the_fitted_ones():
    spec = feature(feature_col="x", transform={"name": "max_min_norm", "max_val": 20, "min_val": 0})
    out, rec = fit(table(x=col([2.0, 4.0, 6.0, 10.0])), spec)
    assert rec["state"] == {"max": [20.0], "min": [0.0]}
    np.testing.assert_allclose(out["x"], [[0.1], [0.2], [0.3], [0.5]], rtol=1e-6)


def test_max_min_norm_per_dimension_values_on_two_columns():
    spec = feature(feature_col=["a", "b"], feature_name="ab",
                   transform={"name": "max_min_norm", "max_val": [10, 200], "min_val": [0, 100]})
    out, _ = fit(table(a=col([5.0, 1.0]), b=col([150.0, 300.0])), spec)
    np.testing.assert_allclose(out["ab"], [[0.5, 0.5], [0.1, 1.0]], rtol=1e-6)


def test_max_min_norm_list_column_is_per_dimension():
    lists = col([[0.0, 10.0], [4.0, 30.0], [2.0, 20.0]], pa.list_(pa.float64()))
    out, rec = fit(table(v=lists), feature(feature_col="v", transform={"name": "max_min_norm"}))
    assert rec["state"] == {"max": [4.0, 30.0], "min": [0.0, 10.0]}
    np.testing.assert_allclose(out["v"], [[0, 0], [1, 1], [0.5, 0.5]])


def test_max_min_norm_constant_column_is_an_error():
    with pytest.raises(ConfigError, match="constant feature"):
        fit(table(x=col([3.0, 3.0])), feature(feature_col="x", transform={"name": "max_min_norm"}))


# --- standard / standard_scaler -------------------------------------------------------------

def test_standard_divides_by_the_fitted_sum():
    spec = feature(feature_col="x", transform={"name": "standard"})
    out, rec = fit(table(x=col([1.0, 3.0, 4.0, 2.0])), spec)
    assert rec["state"] == {"sum": [10.0]}
    np.testing.assert_allclose(out["x"], [[0.1], [0.3], [0.4], [0.2]], rtol=1e-6)
    new = apply(table(x=col([5.0, -1.0])), spec, rec)
    np.testing.assert_allclose(new["x"], [[0.5], [-0.1]], rtol=1e-6)


def test_standard_per_dimension_sums():
    lists = col([[1.0, 2.0], [3.0, 6.0]], pa.list_(pa.float64()))
    out, rec = fit(table(v=lists), feature(feature_col="v", transform={"name": "standard"}))
    assert rec["state"] == {"sum": [4.0, 8.0]}
    np.testing.assert_allclose(out["v"], [[0.25, 0.25], [0.75, 0.75]])


def test_standard_scaler_z_scores_with_population_std():
    spec = feature(feature_col="x", transform={"name": "standard_scaler"})
    x = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]  # mean 5, population std 2
    out, rec = fit(table(x=col(x)), spec)
    assert rec["state"] == {"mean": [5.0], "std": [2.0]}
    np.testing.assert_allclose(out["x"][:, 0], [-1.5, -0.5, -0.5, -0.5, 0, 0, 1, 2])
    new = apply(table(x=col([11.0])), spec, rec)
    np.testing.assert_allclose(new["x"], [[3.0]])


def test_standard_scaler_constant_column_uses_std_one():
    out, rec = fit(table(x=col([4.0, 4.0])), feature(feature_col="x", transform={"name": "standard_scaler"}))
    assert rec["state"] == {"mean": [4.0], "std": [1.0]}
    np.testing.assert_array_equal(out["x"], [[0], [0]])


# --- rank_gauss ------------------------------------------------------------------------------

EPS = 1e-6


def graphstorm_rank_gauss(x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """GraphStorm's definition on distinct values: erfinv(clip((rank/(N-1) - 0.5) * 2))."""
    r = x.argsort().argsort()
    v = (r / (len(x) - 1) - 0.5) * 2
    return erfinv(np.clip(v, -1 + eps, 1 - eps))


def test_rank_gauss_on_five_values():
    out, _ = fit(table(x=col([10.0, 30.0, 20.0, 50.0, 40.0])),
                 feature(feature_col="x", transform={"name": "rank_gauss"}))
    y = out["x"][:, 0]
    assert out["x"].dtype == np.float32 and out["x"].shape == (5, 1)
    # ranks 0, 2, 1, 4, 3 of 5 -> -1, 0, -0.5, 1, 0.5, clipped by epsilon at the ends
    expected = erfinv(np.array([-1 + EPS, 0.0, -0.5, 1 - EPS, 0.5]))
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    assert y[2] == pytest.approx(-0.4769362762, abs=1e-6)


def test_rank_gauss_is_monotone_and_symmetric():
    x = np.array([-7.0, -3.0, -1.0, 0.0, 1.0, 3.0, 7.0])
    out, _ = fit(table(x=col(x)), feature(feature_col="x", transform={"name": "rank_gauss"}))
    y = out["x"][:, 0].astype(np.float64)
    assert np.all(np.diff(y) > 0)
    np.testing.assert_allclose(y, -y[::-1], atol=1e-6)
    assert y[3] == 0.0


def test_rank_gauss_matches_graphstorm_on_the_fitting_rows():
    rng = np.random.default_rng(0)
    x = rng.lognormal(size=800)
    out, _ = fit(table(x=col(x)), feature(feature_col="x", out_dtype="float64", transform={"name": "rank_gauss"}))
    np.testing.assert_allclose(out["x"][:, 0], graphstorm_rank_gauss(x), atol=1e-9)


def test_rank_gauss_on_more_rows_than_stored_quantiles_stays_close():
    # Above 1000 rows the state keeps 1000 quantiles: the CDF value 2 * F(x) - 1 (before
    # erfinv) stays within ~3 ranks of GraphStorm's exact one.
    rng = np.random.default_rng(1)
    x = rng.normal(size=5000)
    out, rec = fit(table(x=col(x)), feature(feature_col="x", out_dtype="float64", transform={"name": "rank_gauss"}))
    assert len(rec["state"]["quantiles"][0]) == 1000
    y = out["x"][:, 0]
    r = x.argsort().argsort()
    v_ref = (r / (len(x) - 1) - 0.5) * 2
    assert np.max(np.abs(erf(y) - v_ref)) < 1.5e-3
    assert np.all(np.diff(y[np.argsort(x)]) >= 0)


def test_rank_gauss_state_applied_to_new_rows():
    spec = feature(feature_col="x", transform={"name": "rank_gauss"})
    fit_out, rec = fit(table(x=col([10.0, 30.0, 20.0, 50.0, 40.0])), spec)
    assert rec["state"] == {"quantiles": [[10.0, 20.0, 30.0, 40.0, 50.0]]}
    new = apply(table(x=col([20.0, 25.0, 0.0, 99.0, 10.0])), spec, rec)["x"][:, 0]
    # A fitted value maps as before; 25 sits halfway between ranks 1 and 2; outside values clamp.
    expected = erfinv(np.array([-0.5, -0.25, -1 + EPS, 1 - EPS, -1 + EPS]))
    np.testing.assert_allclose(new, expected, rtol=1e-6, atol=1e-6)
    assert new[0] == fit_out["x"][2, 0]
    # Re-applying the record to the fitting rows reproduces the fitted output exactly.
    again = apply(table(x=col([10.0, 30.0, 20.0, 50.0, 40.0])), spec, rec)["x"]
    np.testing.assert_array_equal(again, fit_out["x"])


def test_rank_gauss_ties_share_the_middle_rank():
    out, _ = fit(table(x=col([1.0, 1.0, 2.0, 3.0])), feature(feature_col="x", transform={"name": "rank_gauss"}))
    # ranks 0.5, 0.5, 2, 3 of 4 -> 2 * r / 3 - 1
    expected = erfinv(np.clip(np.array([-2 / 3, -2 / 3, 1 / 3, 1.0]), -1 + EPS, 1 - EPS))
    np.testing.assert_allclose(out["x"][:, 0], expected, rtol=1e-6)


def test_rank_gauss_uniquify_ranks_distinct_values():
    spec = feature(feature_col="x", transform={"name": "rank_gauss", "uniquify": True})
    out, rec = fit(table(x=col([1.0, 1.0, 2.0, 3.0])), spec)
    assert rec["state"] == {"quantiles": [[1.0, 2.0, 3.0]]}
    expected = erfinv(np.array([-1 + EPS, -1 + EPS, 0.0, 1 - EPS]))
    np.testing.assert_allclose(out["x"][:, 0], expected, rtol=1e-6, atol=1e-6)


def test_rank_gauss_constant_column_is_zero():
    out, _ = fit(table(x=col([5.0, 5.0, 5.0])), feature(feature_col="x", transform={"name": "rank_gauss"}))
    np.testing.assert_array_equal(out["x"], np.zeros((3, 1)))


def test_rank_gauss_epsilon():
    spec = feature(feature_col="x", out_dtype="float64", transform={"name": "rank_gauss", "epsilon": 0.1})
    out, _ = fit(table(x=col([1.0, 2.0, 3.0])), spec)
    np.testing.assert_allclose(out["x"][:, 0], erfinv(np.array([-0.9, 0.0, 0.9])))


# --- to_categorical --------------------------------------------------------------------------

def test_to_categorical_one_hot_over_sorted_values():
    spec = feature(feature_col="c", transform={"name": "to_categorical"})
    out, rec = fit(table(c=col(["b", "a", "c", "a"])), spec)
    assert rec["state"] == {"mapping": {"a": 0, "b": 1, "c": 2}}
    assert out["c"].dtype == np.int8
    np.testing.assert_array_equal(out["c"], [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]])


def test_to_categorical_multi_hot_with_separator():
    spec = feature(feature_col="tags", transform={"name": "to_categorical", "separator": "|"})
    out, rec = fit(table(tags=col(["x|y", "z", "y|z|x", "", None])), spec)
    assert rec["state"] == {"mapping": {"x": 0, "y": 1, "z": 2}}
    np.testing.assert_array_equal(out["tags"], [[1, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0], [0, 0, 0]])


def test_to_categorical_fixed_mapping():
    spec = feature(feature_col="c", transform={"name": "to_categorical", "mapping": {"a": 2, "b": 0, "c": 1}})
    out, rec = fit(table(c=col(["a", "b", "d", "c"])), spec)
    assert rec["state"] == {"mapping": {"a": 2, "b": 0, "c": 1}}
    np.testing.assert_array_equal(out["c"], [[0, 0, 1], [1, 0, 0], [0, 0, 0], [0, 1, 0]])


def test_to_categorical_unknown_and_missing_values_give_zero_rows_on_new_rows():
    spec = feature(feature_col="c", transform={"name": "to_categorical"})
    _, rec = fit(table(c=col(["b", "a", "c"])), spec)
    new = apply(table(c=col(["c", "zzz", None, "a"])), spec, rec)
    np.testing.assert_array_equal(new["c"], [[0, 0, 1], [0, 0, 0], [0, 0, 0], [1, 0, 0]])


def test_to_categorical_integer_valued_floats_print_as_integers():
    # CSV readers give a float column when an integer column has gaps: 3.0 must be category "3".
    spec = feature(feature_col="c", transform={"name": "to_categorical"})
    out, rec = fit(table(c=col([3.0, 1.0, None, 3.0])), spec)
    assert rec["state"] == {"mapping": {"1": 0, "3": 1}}
    np.testing.assert_array_equal(out["c"], [[0, 1], [1, 0], [0, 0], [0, 1]])
    fixed = feature(feature_col="c", transform={"name": "to_categorical", "mapping": {"3": 0, "1": 1}})
    out, _ = fit(table(c=col([1.0, 3.0])), fixed)
    np.testing.assert_array_equal(out["c"], [[0, 1], [1, 0]])


def test_to_categorical_integer_mapping_keys_and_values_from_ints():
    spec = feature(feature_col="c", transform={"name": "to_categorical", "mapping": {"3": 0, "1": 1}})
    out, _ = fit(table(c=col([1, 3, 2], pa.int64())), spec)
    np.testing.assert_array_equal(out["c"], [[0, 1], [1, 0], [0, 0]])


def test_to_categorical_sorts_integer_categories_as_text_like_graphstorm():
    spec = feature(feature_col="c", transform={"name": "to_categorical"})
    _, rec = fit(table(c=col([10, 9, 2])), spec)
    assert rec["state"] == {"mapping": {"10": 0, "2": 1, "9": 2}}


def test_to_categorical_non_integral_floats_keep_their_decimals():
    spec = feature(feature_col="c", transform={"name": "to_categorical"})
    _, rec = fit(table(c=col([1.5, 2.0])), spec)
    assert rec["state"] == {"mapping": {"1.5": 0, "2": 1}}


def test_to_categorical_nan_float_values_are_missing():
    # A real NaN (not a null), e.g. from Parquet written by pandas: a missing value, like null.
    spec = feature(feature_col="c", transform={"name": "to_categorical"})
    out, rec = fit(table(c=col([3.0, float("nan"), 1.0, None])), spec)
    assert rec["state"] == {"mapping": {"1": 0, "3": 1}}
    np.testing.assert_array_equal(out["c"], [[0, 1], [0, 0], [1, 0], [0, 0]])


def test_to_categorical_huge_integral_floats_do_not_overflow():
    spec = feature(feature_col="c", transform={"name": "to_categorical"})
    _, rec = fit(table(c=col([1e20, 2.0])), spec)
    assert rec["state"] == {"mapping": {"1e+20": 0, "2": 1}}


def test_to_categorical_takes_one_column():
    with pytest.raises(ConfigError, match="one column"):
        fit(table(a=col(["x"]), b=col(["y"])),
            feature(feature_col=["a", "b"], feature_name="ab", transform={"name": "to_categorical"}))


# --- bucket_numerical ------------------------------------------------------------------------

def _onehot(idx, cnt):
    out = np.zeros((len(idx), cnt), dtype=np.float32)
    for i, j in enumerate(idx):
        for k in np.atleast_1d(j):
            out[i, k] = 1
    return out


def test_bucket_numerical_one_hot_and_out_of_range():
    spec = feature(feature_col="x", transform={"name": "bucket_numerical", "bucket_cnt": 5, "range": [0, 10]})
    x = [-1.0, 0.0, 1.9, 2.0, 5.0, 9.99, 10.0, 15.0]
    out, _ = fit(table(x=col(x)), spec)
    assert out["x"].dtype == np.float32 and out["x"].shape == (8, 5)
    np.testing.assert_array_equal(out["x"], _onehot([0, 0, 0, 1, 2, 4, 4, 4], 5))


def test_bucket_numerical_range_order_does_not_matter():
    a = feature(feature_col="x", transform={"name": "bucket_numerical", "bucket_cnt": 5, "range": [0, 10]})
    b = feature(feature_col="x", transform={"name": "bucket_numerical", "bucket_cnt": 5, "range": [10, 0]})
    t = table(x=col([-3.0, 3.0, 7.5, 12.0]))
    np.testing.assert_array_equal(fit(t, a)[0]["x"], fit(t, b)[0]["x"])


def test_bucket_numerical_sliding_window():
    spec = feature(feature_col="x", transform={"name": "bucket_numerical", "bucket_cnt": 5, "range": [0, 10],
                                               "slide_window_size": 2})
    # f -> window [f-1, f+1] clipped to [0, 10]; buckets of width 2 that the window touches
    x = [5.0, 1.0, 3.0, 9.5, -5.0, 20.0, 0.5]
    out, _ = fit(table(x=col(x)), spec)
    expected = _onehot([[2, 3], [0, 1], [1, 2], [4], [0], [4], [0]], 5)
    np.testing.assert_array_equal(out["x"], expected)


def test_bucket_numerical_boundaries_follow_graphstorm_floor_division():
    # GraphStorm computes the bucket with numpy's `//`, which rounds 1.0 // 0.1 down to 9.
    spec = feature(feature_col="x", transform={"name": "bucket_numerical", "bucket_cnt": 20, "range": [0, 2]})
    out, _ = fit(table(x=col([1.0, 0.3])), spec)
    assert int(np.argmax(out["x"][0])) == 9
    assert int(np.argmax(out["x"][1])) == 2


def test_bucket_numerical_out_dtype_and_list_column():
    spec = feature(feature_col="v", out_dtype="int8",
                   transform={"name": "bucket_numerical", "bucket_cnt": 2, "range": [0, 4]})
    lists = col([[1.0, 3.0], [3.0, 1.0]], pa.list_(pa.float64()))
    out, _ = fit(table(v=lists), spec)
    assert out["v"].dtype == np.int8
    np.testing.assert_array_equal(out["v"], [[1, 0, 0, 1], [0, 1, 1, 0]])


def test_bucket_numerical_needs_bucket_cnt_and_range():
    with pytest.raises(ConfigError, match="bucket_cnt"):
        fit(table(x=col([1.0])), feature(feature_col="x", transform={"name": "bucket_numerical", "range": [0, 1]}))
    with pytest.raises(ConfigError, match="range"):
        fit(table(x=col([1.0])), feature(feature_col="x", transform={"name": "bucket_numerical", "bucket_cnt": 2,
                                                                      "range": [1, 1]}))


# --- imputers --------------------------------------------------------------------------------

# finite values 1, 4, 4, 6, 10, 11: mean 6, median 5, most frequent 4
IMPUTE_X = [1.0, None, 4.0, 4.0, 6.0, 10.0, 11.0]


@pytest.mark.parametrize("imputer, fill", [
    ("mean", 6.0), ("median", 5.0), ("most_frequent", 4.0), ({"strategy": "constant", "value": -1}, -1.0),
])
def test_imputer_strategies(imputer, fill):
    spec = feature(feature_col="x", out_dtype="float64", imputer=imputer)
    out, rec = fit(table(x=col(IMPUTE_X)), spec)
    assert rec["imputer"] == [fill]
    expected = [1.0, fill, 4.0, 4.0, 6.0, 10.0, 11.0]
    np.testing.assert_array_equal(out["x"][:, 0], expected)


def test_imputer_fill_is_reused_on_new_rows():
    spec = feature(feature_col="x", out_dtype="float64", imputer="mean")
    _, rec = fit(table(x=col(IMPUTE_X)), spec)
    # The new rows' own mean would be 7; the fitted fill (6) is used.
    new = apply(table(x=col([None, 7.0])), spec, rec)
    np.testing.assert_array_equal(new["x"][:, 0], [6.0, 7.0])


def test_imputer_before_max_min_norm():
    spec = feature(feature_col="x", imputer="median", transform={"name": "max_min_norm"})
    out, rec = fit(table(x=col(IMPUTE_X)), spec)
    assert rec["state"] == {"max": [11.0], "min": [1.0]}
    np.testing.assert_allclose(out["x"][:, 0], [0, 0.4, 0.3, 0.3, 0.5, 0.9, 1.0], rtol=1e-6)


def test_imputer_per_dimension_of_a_list_column():
    lists = col([[1.0, None], [3.0, 8.0], [None, 2.0]], pa.list_(pa.float64()))
    out, rec = fit(table(v=lists), feature(feature_col="v", out_dtype="float64", imputer="mean"))
    assert rec["imputer"] == [2.0, 5.0]
    np.testing.assert_array_equal(out["v"], [[1, 5], [3, 8], [2, 2]])


def test_imputer_on_text_transform_is_an_error():
    with pytest.raises(ConfigError, match="imputer"):
        fit(table(c=col(["a"])), feature(feature_col="c", imputer="mean", transform={"name": "to_categorical"}))


# --- fitted records re-applied to new rows ----------------------------------------------------

FIT_X = [3.0, None, -1.0, 8.0, 5.0, 2.0]
NEW_X = [4.0, 9.0, None, -3.0]


@pytest.mark.parametrize("transform", [
    {"name": "max_min_norm"},
    {"name": "standard"},
    {"name": "standard_scaler"},
    {"name": "rank_gauss"},
    {"name": "bucket_numerical", "bucket_cnt": 3, "range": [0, 6], "slide_window_size": 1.5},
    {"name": "no-op"},
])
def test_record_reapplied_to_new_rows_equals_the_fitted_transformation(transform):
    spec = feature(feature_col="x", imputer="median", transform=transform)
    fit_out, rec = fit(table(x=col(FIT_X)), spec)
    # The same record on the fitting rows reproduces the fitted output exactly...
    np.testing.assert_array_equal(apply(table(x=col(FIT_X)), spec, rec)["x"], fit_out["x"])
    # ...and rows are transformed independently of the rows around them: new rows alone
    # give the same values as the same rows appended to the fitting rows.
    new_out = apply(table(x=col(NEW_X)), spec, rec)["x"]
    both = apply(table(x=col(FIT_X + NEW_X)), spec, rec)["x"]
    np.testing.assert_array_equal(new_out, both[len(FIT_X):])
    np.testing.assert_array_equal(both[:len(FIT_X)], fit_out["x"])
    # A missing new value gets the fitted fill (the median 3.0 of the fitting rows), so it
    # comes out like the fitting row holding 3.0.
    assert rec["imputer"] == [3.0]
    np.testing.assert_array_equal(new_out[2], fit_out["x"][0])


def test_to_categorical_record_on_new_rows_keeps_the_vocabulary():
    spec = feature(feature_col="c", transform={"name": "to_categorical", "separator": ";"})
    _, rec = fit(table(c=col(["red;blue", "green"])), spec)
    new = apply(table(c=col(["blue;purple", "red;green;blue"])), spec, rec)
    # mapping blue 0, green 1, red 2; purple unknown
    np.testing.assert_array_equal(new["c"], [[1, 0, 0], [1, 1, 1]])


# --- unknown transforms ------------------------------------------------------------------------

def test_unknown_transform_suggests_the_closest():
    with pytest.raises(ConfigError, match="Did you mean 'rank_gauss'"):
        fit(table(x=col([1.0])), feature(feature_col="x", transform={"name": "rank_gaus"}))


def test_unknown_transform_parameter():
    with pytest.raises(ConfigError, match="unknown parameter 'max_vla'"):
        fit(table(x=col([1.0, 2.0])), feature(feature_col="x", transform={"name": "max_min_norm", "max_vla": 1}))


# --- Hugging Face: tokenize_hf and bert_hf on a tiny local BERT --------------------------------

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "graph", "kit", "##s"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    root = tmp_path_factory.mktemp("tiny_bert")
    vocab_dir = root / "vocab"
    vocab_dir.mkdir()
    (vocab_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    # from_pretrained on a folder holding vocab.txt works with transformers 4 and 5
    # (transformers 5 ignores BertTokenizerFast(vocab_file=...)).
    tok = transformers.BertTokenizerFast.from_pretrained(str(vocab_dir))
    assert tok.convert_tokens_to_ids("world") == 6
    torch.manual_seed(0)
    cfg = transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=64, vocab_size=len(VOCAB))
    model = transformers.BertModel(cfg)
    model_dir = root / "model"
    model.save_pretrained(str(model_dir))
    tok.save_pretrained(str(model_dir))
    return str(model_dir)


TEXTS = ["Hello world", "graphs kit", "hello world graph kit hello", None]


def test_tokenize_hf(tiny_bert):
    spec = feature(feature_col="text", transform={"name": "tokenize_hf", "bert_model": tiny_bert,
                                                  "max_seq_length": 6})
    out, rec = fit(table(text=col(TEXTS, pa.string())), spec)
    assert list(out) == ["input_ids", "attention_mask", "token_type_ids"]
    assert out["input_ids"].dtype == np.int64
    assert out["attention_mask"].dtype == np.int8 and out["token_type_ids"].dtype == np.int8
    np.testing.assert_array_equal(out["input_ids"], [
        [2, 5, 6, 3, 0, 0],   # [CLS] hello world [SEP] pad pad
        [2, 7, 9, 8, 3, 0],   # [CLS] graph ##s kit [SEP] pad
        [2, 5, 6, 7, 8, 3],   # truncated to 6 tokens
        [2, 3, 0, 0, 0, 0],   # missing text -> ""
    ])
    np.testing.assert_array_equal(out["attention_mask"], [
        [1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(out["token_type_ids"], np.zeros((4, 6)))
    assert rec["outputs"] == {"input_ids": {"dtype": "int64", "shape": [6]},
                              "attention_mask": {"dtype": "int8", "shape": [6]},
                              "token_type_ids": {"dtype": "int8", "shape": [6]}}


def test_bert_hf_equals_the_models_pooler_output(tiny_bert):
    import torch
    import transformers

    spec = feature(feature_col="text", feature_name="emb",
                   transform={"name": "bert_hf", "bert_model": tiny_bert, "max_seq_length": 6,
                              "infer_batch_size": 3})
    out, _ = fit(table(text=col(TEXTS, pa.string())), spec)
    emb = out["emb"]
    assert list(out) == ["emb"]
    assert emb.dtype == np.float32 and emb.shape == (4, 32)

    tok = transformers.AutoTokenizer.from_pretrained(tiny_bert)
    model = transformers.AutoModel.from_pretrained(tiny_bert).eval()
    enc = tok([t or "" for t in TEXTS], max_length=6, truncation=True, padding="max_length", return_tensors="pt")
    with torch.no_grad():
        ref = model(**enc).pooler_output.numpy()
    # On a GPU graphkit runs the encoder in bfloat16.
    atol = 2e-2 if torch.cuda.is_available() else 1e-5
    np.testing.assert_allclose(emb, ref, atol=atol)
    assert not math.isclose(float(np.abs(emb[0] - emb[1]).max()), 0.0)


def test_bert_hf_out_dtype(tiny_bert):
    spec = feature(feature_col="text", feature_name="emb", out_dtype="float16",
                   transform={"name": "bert_hf", "bert_model": tiny_bert, "max_seq_length": 4})
    out, _ = fit(table(text=col(["hello"], pa.string())), spec)
    assert out["emb"].dtype == np.float16 and out["emb"].shape == (1, 32)
