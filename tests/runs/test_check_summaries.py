"""The check summaries read today's files: each record's ``from_json(...).to_json()`` gives back the JSON the checks
write, key for key and in order (literals below: trimmed copies of files the checks wrote before they were typed),
and a value of the wrong shape, a missing key or another schema_version is a RecordError naming it."""

import copy
import json

import pytest

from aigc_explain.runs.check_summaries import FaithfulnessSummary, PlantedSummary, SanitySummary
from aigc_explain.runs.diagnose_summary import DiagnoseSummary
from aigc_explain.runs.records import RecordError
from aigc_explain.runs.robustness_summary import CrossDomainSummary, RobustnessSummary

SANITY = json.loads("""\
    {"schema_version": 1, "method": "gradcam", "layer": "layer1", "target": "fake", "image_size": 32, "n_images":
    2, "blocks": ["fc", "layer4.0"], "metrics": ["spearman", "spearman_abs", "ssim", "ssim_abs"], "verdict_metric"
    : "spearman_abs", "threshold": 0.5, "verdict": "PASS: mean Spearman rank correlation of |gradcam map| betwee"
    , "passed": true, "steps": [{"mode": "original", "block": "(none)", "randomized": [], "changed_tensors": 0,
    "block_tensors": 0, "similarity": {"spearman": {"mean": 1.0, "ci95": [1.0, 1.0], "n": 4}, "spearman_abs": {
    "mean": 1.0, "ci95": [1.0, 1.0], "n": 4}}, "per_image": {"spearman": [1.0, 1.0], "spearman_abs": [1.0, 1.0]}}
    , {"mode": "cascading", "block": "fc", "randomized": ["fc"], "changed_tensors": 2, "block_tensors": 2,
    "similarity": {"spearman": {"mean": -0.2120378925514966, "ci95": [-0.30718719373867576, -0.12262862679457429]
    , "n": 4}, "spearman_abs": {"mean": 0.07582192476023579, "ci95": [0.014927984122724516, 0.15491361907940968],
    "n": 4}}, "per_image": {"spearman": [-0.19438230649022883, null], "spearman_abs": [-0.0014619741871785617
    , 0.19611217796167038]}}], "paths": ["/data/data/val/0_real/000.png"
    , "/data/data/val/1_fake/000.png"], "n_skipped": 0, "checkpoint_sha256":
    "b4b291729137525487ffdfa08d4bd082699db870ad2883254c562c337191714f", "preprocessing": {"resize": [32, 32],
    "interpolation": "bilinear, antialiased", "center_crop": false, "scale": "uint8/255", "mean": [0.485, 0.456
    , 0.406], "std": [0.229, 0.224, 0.225]}, "versions": {"python": "3.11.7", "torch": "2.14.1"}}""")

FAITHFULNESS = json.loads("""\
    {"schema_version": 1, "method": "gradcam", "layer": "layer1", "target": "fake", "n_images": 4, "fractions":
    [0.0, 0.25, 0.5, 0.75, 1.0], "baselines": ["zero"], "map_kinds": ["gradcam", "random"], "score":
    "probability of the explained class", "rows": [{"map": "gradcam", "baseline": "zero", "n": 4, "deletion_auc":
    0.5088402628898621, "deletion_ci_low": 0.5075635798275471, "deletion_ci_high": 0.510116945952177,
    "insertion_auc": 0.5103635415434837, "insertion_ci_low": 0.508223507553339, "insertion_ci_high":
    0.5125035755336285, "road_morf": -0.0036167101934552193, "road_lerf": 0.00549226813018322, "road_combined":
    0.00455448916181922}, {"map": "gradcam++", "baseline": "mean", "n": 4, "deletion_auc": 0.5088975355029106,
    "deletion_ci_low": 0.5080206915736198, "deletion_ci_high": 0.5097743794322014, "insertion_auc":
    0.5083119943737984, "insertion_ci_low": 0.5061641111969948, "insertion_ci_high": 0.510459877550602,
    "road_morf": null, "road_lerf": null, "road_combined": null}], "comparisons": {"zero": {"random": {"deletion"
    : {"mean": -0.0017198249697685242, "ci95": [-0.00213458389043808, -0.0010578557848930359], "n": 4},
    "insertion": {"mean": -0.0003978051245212555, "ci95": [-0.002028394490480423, 0.0007889792323112488], "n": 4}}
    }}, "mean_curves": {"gradcam|zero|deletion": [0.5077878534793854, 0.5064942687749863, 0.5082864016294479
    , 0.5104973763227463, 0.5123781561851501]}, "verdict":
    "gradcam does NOT beat every trivial map on 4 images: random ", "beats_all": false, "road": {"percentiles":
    [50], "n_images": 2, "units": "change of the signed logit", "paths":
    ["/data/data/val/0_real/000.png", "/data/data/val/1_fake/001.png"]},
    "paths": ["/data/data/val/0_real/000.png", "/data/data/val/1_fake/000.png"
    ], "n_skipped": 0, "checkpoint_sha256": "b4b291729137525487ffdfa08d4bd082699db870ad2883254c562c337191714f",
    "preprocessing": {"resize": [32, 32]}, "versions": {"python": "3.11.7"}}""")

PLANTED = json.loads("""\
    {"schema_version": 1, "benchmark": "planted", "region": "corner", "expected": "corner_share > 0.5",
    "criterion": "the detector learned the plant (val accu", "all_pass": false, "best_val_acc": 0.5, "rows": [{
    "method": "gradcam", "layer": "auto", "layer_name": "layer1.0", "map_size": [8, 8], "n": 4, "n_empty": 0,
    "fake_recall": 0.0, "masses": {"corner_share": {"mean": 0.3682562739205888, "ci95": [0.2674413597596401
    , 0.465566337512201], "n": 4}}, "passes": false}], "detector": {"arch": "test_resnet", "source": "timm",
    "image_size": 32}, "dataset": {"out_dir": "/runs/planted/data", "region": "corner", "n_train"
    : 8}, "config": {"region": "corner", "out": "/runs/planted", "model": "test_resnet", "weights"
    : "none"}, "seconds": {"data": 0.02, "train": 0.24, "cam": 0.1}, "warnings":
    ["the detector reached only 0.500 val accu"]}""")

DIAGNOSE = json.loads("""\
    {"schema_version": 1, "images": "/data/data/val", "n_images": 12, "n_real": 6, "n_fake": 6,
    "n_skipped": 0, "threshold": 0.5, "clean": {"real": {"n": 6, "prob_change": {"mean": 0.0, "ci95": [0.0, 0.0]}
    , "flipped": 0.0, "accuracy": 0.0, "clean_accuracy": 0.0}, "fake": {"n": 6, "prob_change": {"mean": 0.0,
    "ci95": [0.0, 0.0]}, "flipped": 0.0, "accuracy": 1.0, "clean_accuracy": 1.0}, "accuracy": 0.5, "auc":
    0.05555555555555556}, "bands": [{"lo": 0.0, "hi": 0.125, "mode": "remove", "name": "remove 0-0.125", "real": {
    "n": 6, "prob_change": {"mean": 0.0016967582571271733, "ci95": [0.001093019647732248, 0.002381996826911624]},
    "flipped": 0.0, "accuracy": 0.0, "clean_accuracy": 0.0}, "fake": {"n": 6, "prob_change": {"mean":
    0.0020157275257992233, "ci95": [0.001306746527012533, 0.0027213679520162607]}, "flipped": 0.0, "accuracy": 1.0
    , "clean_accuracy": 1.0}, "accuracy": 0.5, "auc": 0.0}], "peaks": {"bins": [[16, 0], [16, 31]], "freqs": [
    [-0.5, 0.0], [-0.5, -0.03125]], "name": "remove peaks", "real": {"n": 6, "prob_change": {"mean":
    6.068620046240092e-05, "ci95": [-0.0003809727837397192, 0.0004926258471596076]}, "flipped": 0.0, "accuracy":
    0.0, "clean_accuracy": 0.0}, "fake": {"n": 6, "prob_change": {"mean": 0.004602081865757612, "ci95":
    [0.002922945253457279, 0.006253078970459976]}, "flipped": 0.0, "accuracy": 1.0, "clean_accuracy": 1.0},
    "accuracy": 0.5, "auc": 0.4166666666666667}, "shuffle": [{"patch": 8, "seed": 0, "name": "shuffle 8px", "real"
    : {"n": 6, "prob_change": {"mean": -0.0005035001196733354, "ci95": [-0.0013311157769281823
    , 0.0004431046165817021]}, "flipped": 0.0, "accuracy": 0.0, "clean_accuracy": 0.0}, "fake": {"n": 6,
    "prob_change": {"mean": -0.0019646593569750217, "ci95": [-0.004922001810478342, 0.000977639950969315]},
    "flipped": 0.16666666666666666, "accuracy": 0.8333333333333334, "clean_accuracy": 1.0}, "accuracy":
    0.4166666666666667, "auc": 0.02777777777777777}], "reencode": [{"variant": "png", "name": "reencode png",
    "real": {"n": 6, "prob_change": {"mean": 0.0, "ci95": [0.0, 0.0]}, "flipped": 0.0, "accuracy": 0.0,
    "clean_accuracy": 0.0}, "fake": {"n": 6, "prob_change": {"mean": 0.0, "ci95": [0.0, 0.0]}, "flipped": 0.0,
    "accuracy": 1.0, "clean_accuracy": 1.0}, "accuracy": 0.5, "auc": 0.05555555555555556}], "peaks_found": {
    "found": true, "bins": [[16, 0], [16, 31]], "freqs": [[-0.5, 0.0], [-0.5, -0.03125]], "n_real": 6, "n_fake": 6
    , "rule": "fake power >= 10x the reals' and >= 25x "}, "patch_map": {"patch": 16, "n": 2, "classes": {"fake":
    {"n": 1, "map": [[0.5078409386326511, 0.5113665181404982], [0.5067921852154333, 0.5106175150208996]],
    "blurred": 0.5113404480380005, "spread": 0.004574332925064817}}, "cam": "gradcam, auto layer, target fake"},
    "verdict": ["The detector's decision rests on 0–0.125 cycles/pi"
    , "Removing the fakes' 51 periodic spectral peak bin("], "settings": {"bands": "0,1/8,1/2", "patches": "8,16"
    , "reencode": ["png", "jpeg:80"], "peaks": true, "limit": null}, "amp": {"used": "off", "reason":
    "--amp off: exact fp32"}, "how": {"domain": "the detector's input: after it", "bands":
    "radial |f| in cycles/pixel, pe"}, "warnings": ["the images explained holds fake images only"]}""")

ROBUSTNESS = json.loads("""\
    {"schema_version": 1, "checkpoint": "/data/a.pth", "data": "/data/data",
    "split": "val", "perturbations": [{"name": "clean", "kind": "clean", "value": null}, {"name": "jpeg=90",
    "kind": "jpeg", "value": 90.0, "how": "PIL JPEG encode/decode, default 4:2:0 chroma"}], "threshold": 0.5,
    "cam": {"method": "gradcam", "target": "fake", "layer": "layer1", "map_size": [8, 8], "warnings": []}, "rows"
    : [{"perturbation": "clean", "kind": "clean", "value": null, "accuracy": 0.5, "accuracy_lo": 0.5,
    "accuracy_hi": 0.5, "real_acc": 0.0, "fake_acc": 1.0, "average_precision": 0.3563131313131313, "roc_auc":
    0.05555555555555556, "n_real": 6, "n_fake": 6, "n_skipped": 0, "cam_n": 12, "cam_pearson": 1.0,
    "cam_pearson_lo": 1.0, "cam_pearson_hi": 1.0, "cam_spearman": 1.0, "cam_spearman_lo": 1.0, "cam_spearman_hi":
    1.0, "corner_share_delta": 0.0, "corner_share_delta_lo": 0.0, "corner_share_delta_hi": 0.0, "corner_share":
    0.5051563174245844}, {"perturbation": "resize=0.5", "kind": "resize", "value": 0.5, "accuracy": 0.5,
    "accuracy_lo": 0.5, "accuracy_hi": 0.5, "real_acc": 0.0, "fake_acc": 1.0, "average_precision": 1.0, "roc_auc"
    : 1.0, "n_real": 6, "n_fake": 6, "n_skipped": 0}], "metrics": {"clean": {"accuracy": 0.5, "real_acc": 0.0,
    "fake_acc": 1.0, "average_precision": 0.3563131313131313, "roc_auc": 0.05555555555555556, "n_real": 6,
    "n_fake": 6, "threshold": 0.5, "ci95": {"accuracy": [0.5, 0.5], "real_acc": [0.0, 0.0], "fake_acc": [1.0, 1.0]
    , "average_precision": [0.35588023088023085, 0.4757575757575757], "roc_auc": [0.0, 0.25]}, "folder":
    "/data/data/val", "n_skipped": 0, "reencode": null, "amp": {"used": "off", "reason":
    "--amp off: exact fp32"}, "warnings": []}}}""")

CROSS_DOMAIN = json.loads("""\
    {"schema_version": 1, "split": "val", "threshold": 0.5, "checkpoints": ["a", "b"], "data": ["data", "centre"]
    , "checkpoint_paths": ["/data/a.pth", "/data/b.pth"], "data_paths":
    ["/data/data", "/data/centre"], "cell_folders": [["a__data", "a__centre"]
    , ["b__data", "b__centre"]], "matrix": {"accuracy": [[0.5, 0.5], [0.5, 0.5]], "roc_auc": [[0.05555555555555556
    , 0.3333333333333333], [1.0, 0.888888888888889]]}, "cells": [{"checkpoint": "a", "data": "data", "accuracy":
    0.5, "accuracy_lo": 0.5, "accuracy_hi": 0.5, "real_acc": 0.0, "fake_acc": 1.0, "average_precision":
    0.3563131313131313, "roc_auc": 0.05555555555555556, "n_real": 6, "n_fake": 6, "n_skipped": 0}]}""")


CASES = [(SanitySummary, SANITY), (FaithfulnessSummary, FAITHFULNESS), (PlantedSummary, PLANTED),
         (DiagnoseSummary, DIAGNOSE), (RobustnessSummary, ROBUSTNESS), (CrossDomainSummary, CROSS_DOMAIN)]
IDS = [cls.NAME for cls, _ in CASES]


@pytest.mark.parametrize("cls, data", CASES, ids=IDS)
def test_todays_files_read_back_byte_for_byte(cls, data):
    again = cls.from_json(copy.deepcopy(data)).to_json()
    assert again == data and json.dumps(again) == json.dumps(data)  # the same keys in the same order


@pytest.mark.parametrize("cls, data", CASES, ids=IDS)
def test_another_schema_version_is_refused_by_name(cls, data):
    with pytest.raises(RecordError, match=f"{cls.NAME}: schema_version 2 is not 1"):
        cls.from_json({**data, "schema_version": 2})
    with pytest.raises(RecordError, match=f"{cls.NAME}: schema_version None is not 1"):
        cls.from_json({k: v for k, v in data.items() if k != "schema_version"})


def _broken(data: dict, path: tuple, value=None, *, drop: bool = False) -> dict:
    out = copy.deepcopy(data)
    where = out
    for step in path[:-1]:
        where = where[step]
    if drop:
        del where[path[-1]]
    else:
        where[path[-1]] = value
    return out


@pytest.mark.parametrize("cls, data, path, value, message", [
    (SanitySummary, SANITY, ("steps", 1, "similarity", "spearman", "mean"), "high",
     r"sanity.json.steps\[1\].similarity.spearman.mean: expected a number, got 'high'"),
    (SanitySummary, SANITY, ("passed",), "yes", r"sanity.json.passed: expected true or false, got 'yes'"),
    (FaithfulnessSummary, FAITHFULNESS, ("rows", 0, "map"), 3,
     r"faithfulness.json.rows\[0\].map: expected a string"),
    (FaithfulnessSummary, FAITHFULNESS, ("comparisons", "zero", "random", "deletion", "ci95"), [0.1],
     r"comparisons.zero.random.deletion.ci95: expected a list of 2"),
    (PlantedSummary, PLANTED, ("rows", 0, "map_size"), "8x8", r"planted.json.rows\[0\].map_size: expected a list"),
    (DiagnoseSummary, DIAGNOSE, ("bands", 0, "fake", "n"), 6.5,
     r"diagnose.json.bands\[0\].fake.n: expected an integer"),
    (DiagnoseSummary, DIAGNOSE, ("patch_map", "classes", "fake", "map"), {}, r"classes.fake.map: expected a list"),
    (RobustnessSummary, ROBUSTNESS, ("rows", 0, "cam_pearson"), "1",
     r"robustness.json.rows\[0\].cam.cam_pearson: expected a number"),
    (CrossDomainSummary, CROSS_DOMAIN, ("matrix", "accuracy", 0), 0.5, r"matrix.accuracy\[0\]: expected a list"),
])
def test_a_value_of_the_wrong_type_is_named_by_its_key(cls, data, path, value, message):
    with pytest.raises(RecordError, match=message):
        cls.from_json(_broken(data, path, value))


@pytest.mark.parametrize("cls, data, path, message", [
    (SanitySummary, SANITY, ("steps", 0, "per_image"), r"sanity.json.steps\[0\]: lacks 'per_image'"),
    (FaithfulnessSummary, FAITHFULNESS, ("road", "units"), r"faithfulness.json.road: lacks 'units'"),
    (PlantedSummary, PLANTED, ("rows", 0, "passes"), r"planted.json.rows\[0\]: lacks 'passes'"),
    (DiagnoseSummary, DIAGNOSE, ("clean", "real", "prob_change"), r"diagnose.json.clean.real: lacks 'prob_change'"),
    (DiagnoseSummary, DIAGNOSE, ("amp",), r"diagnose.json: lacks 'amp'"),
    (RobustnessSummary, ROBUSTNESS, ("rows", 1, "accuracy"), r"robustness.json.rows\[1\].metrics: lacks 'accuracy'"),
    (CrossDomainSummary, CROSS_DOMAIN, ("cells", 0, "data"), r"cross_domain.json.cells\[0\]: lacks 'data'"),
])
def test_a_missing_key_is_named(cls, data, path, message):
    with pytest.raises(RecordError, match=message):
        cls.from_json(_broken(data, path, drop=True))


def test_typed_access_reads_the_numbers_the_files_hold():
    sanity = SanitySummary.from_json(SANITY)
    assert [s.block for s in sanity.schedule("cascading")] == ["fc"]
    assert sanity.steps[1].per_image["spearman"][1] is None
    assert sanity.steps[1].similarity["spearman_abs"].ci95 == (0.014927984122724516, 0.15491361907940968)
    faith = FaithfulnessSummary.from_json(FAITHFULNESS)
    assert faith.row("gradcam", "zero").auc("deletion") == FAITHFULNESS["rows"][0]["deletion_auc"]
    assert faith.rows[1].road_morf is None and faith.comparisons["zero"]["random"].insertion.n == 4
    with pytest.raises(ValueError, match="has no row for map 'sobel' with baseline 'zero'"):
        faith.row("sobel", "zero")
    diag = DiagnoseSummary.from_json(DIAGNOSE)
    assert diag.measures.variants() == [diag.bands[0], diag.peaks, diag.shuffle[0], diag.reencode[0]]
    assert diag.bands[0].part("fake") is diag.bands[0].fake and diag.amp.used == "off"
    rob = RobustnessSummary.from_json(ROBUSTNESS)
    assert rob.rows[0].cam.cam_n == 12 and rob.rows[1].cam is None and "cam_n" not in rob.rows[1].to_json()
    assert rob.rows[1].column("accuracy") == rob.rows[1].metrics.accuracy and rob.perturbations[0].how is None
    assert CrossDomainSummary.from_json(CROSS_DOMAIN).cells[0].metrics.n_real == 6


def test_a_damaged_diagnose_json_is_one_line_naming_the_file(tmp_path):
    from aigc_explain.runs.folders import mark_complete
    from aigc_explain.runs.reader import load_diagnose_run, load_run

    run = tmp_path / "diag"
    run.mkdir()
    (run / "diagnose.json").write_text(json.dumps(DIAGNOSE))
    mark_complete(run, "diagnose")
    loaded = load_run(run)
    assert loaded.kind == "diagnose" and loaded.summary.to_json() == DIAGNOSE
    (run / "diagnose.json").write_text(json.dumps(_broken(DIAGNOSE, ("verdict",), "one sentence")))
    mark_complete(run, "diagnose")
    with pytest.raises(ValueError, match=r"diagnose.json.*verdict: expected a list") as exc:
        load_diagnose_run(run)
    assert str(run / "diagnose.json") in str(exc.value) and len(str(exc.value).splitlines()) == 1
