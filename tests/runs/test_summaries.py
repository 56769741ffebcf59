"""Typed summaries (issue #20): today's files read into records and written back byte for byte; a value of
the wrong shape is one error naming its key; the readers hand records out."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from aigc_explain.runs.comparison_summary import ComparisonSummary
from aigc_explain.runs.files import write_json
from aigc_explain.runs.records import RecordError
from aigc_explain.runs.summaries import CamSummary, EvaluationMetrics, Interval

FILES = Path(__file__).parent / "contract_files"
RECORDS = {"summary.json": CamSummary, "metrics.json": EvaluationMetrics, "comparison.json": ComparisonSummary}


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_todays_files_round_trip_byte_for_byte(name, tmp_path):
    text = (FILES / name).read_text()
    record = RECORDS[name].from_json(json.loads(text))
    write_json(tmp_path / name, record.to_json())
    assert (tmp_path / name).read_text() == text


def test_typed_access_reads_what_the_file_says():
    data = json.loads((FILES / "summary.json").read_text())
    summary = CamSummary.from_json(data)
    fake = summary.groups["fake"].corner_share
    assert isinstance(fake, Interval) and fake.mean == data["groups"]["fake"]["corner_share"]["mean"]
    assert fake.ci95 == tuple(data["groups"]["fake"]["corner_share"]["ci95"]) and fake.format().startswith("0.")
    assert summary.map_size == tuple(data["map_size"]) and summary.regions.corner_frac == 0.25
    comparison = ComparisonSummary.from_json(json.loads((FILES / "comparison.json").read_text()))
    la, lb = comparison.labels
    cs = comparison.classes["fake"].corner_share
    assert cs.per_run[la].mean > cs.per_run[lb].mean and cs.test.p_permutation < 0.05
    assert cs.paired is not None and comparison.images.same
    metrics = EvaluationMetrics.from_json(json.loads((FILES / "metrics.json").read_text()))
    assert 0 <= metrics.ci95.accuracy[0] <= metrics.accuracy <= metrics.ci95.accuracy[1] <= 1


def test_records_are_frozen():
    summary = CamSummary.from_json(json.loads((FILES / "summary.json").read_text()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.layer = "other"


@pytest.mark.parametrize("change, named", [
    (lambda d: d["groups"]["fake"]["corner_share"].__setitem__("mean", "high"), "groups.fake.corner_share.mean"),
    (lambda d: d.__setitem__("map_size", [8]), "map_size"),
    (lambda d: d["groups"]["real"].pop("n_empty"), "n_empty"),
    (lambda d: d.__setitem__("schema_version", 2), "schema_version 2"),
    (lambda d: d.__setitem__("layer", 13), "summary.json.layer"),
])
def test_a_wrong_value_is_one_error_naming_its_key(change, named):
    data = json.loads((FILES / "summary.json").read_text())
    change(data)
    with pytest.raises(RecordError, match=named.replace(".", r"\.").replace(" ", " ")):
        CamSummary.from_json(data)


def test_unknown_keys_survive_a_round_trip():
    data = json.loads((FILES / "metrics.json").read_text())
    data["written_by_a_newer_version"] = {"x": 1}
    assert EvaluationMetrics.from_json(data).to_json() == data


def test_the_reader_names_a_damaged_summary(tmp_path):
    from aigc_explain.runs.reader import read_record_file

    data = json.loads((FILES / "summary.json").read_text())
    data["groups"]["all"]["corner_mass"] = [0.1]
    with pytest.raises(ValueError, match=r"summary\.json is not a valid summary\.json: .*corner_mass"):
        read_record_file(CamSummary, data, tmp_path / "summary.json")


def test_cam_result_is_frozen_and_built_by_keyword():
    from aigc_explain.explain.folder import CamResult, CamSettings

    fields = {f.name for f in dataclasses.fields(CamResult)}
    assert CamResult.__dataclass_params__.frozen
    with pytest.raises(TypeError):
        CamResult(CamSettings(), {}, "layer4", (2, 2), (8, 8), [], np.zeros(0), np.zeros(0), np.zeros(0),
                  np.zeros((0, 2, 2)), {}, {})
    assert {"settings", "layer_name", "raw_maps", "layer_choice"} <= fields
