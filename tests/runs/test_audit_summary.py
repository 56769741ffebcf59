"""audit.json as typed records (``runs.audit_summary``): what today's audit writes reads back key for key, a
wrong key or type is one RecordError naming it (and one line naming the file in the reader), and the gathering
loop takes any evidence kind that follows the ``kinds.EvidenceKind`` protocol without an edit elsewhere."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigc_explain.audit import main as audit_main
from aigc_explain.evidence.gather import ALL, EVIDENCE_KINDS, AuditSettings, run_audit
from aigc_explain.evidence.kinds import Batch, Context, EvidenceKind, FeatureKind
from aigc_explain.evidence.write import evidence_maps
from aigc_explain.runs.audit_summary import AuditSummary, BudgetEntry, RecordError
from aigc_explain.runs.folders import mark_complete
from aigc_explain.runs.reader import load_audit_run

FAST = ["--size", "32", "--n-boot", "50", "--n-perm", "19", "--no-progress"]

# audit.json as the audit wrote it before the records (the "thin" control: a train split with both classes, a
# val split with one fake), trimmed: the t-maps and cue lists cut short, one split, the verdict cut.
BEFORE = {'schema_version': 2,
          'data': '/tmp/aigc_audit_ref/data/thin',
          'data_resolved': '/tmp/aigc_audit_ref/data/thin',
          'n_images': 37,
          'n_real': 24,
          'n_fake': 13,
          'cue_auc': 1.0,
          'cue_auc_ci95': [1.0, 1.0],
          'cues': [{'name': 'width', 'kind': 'numeric', 'auc': 1.0},
                   {'name': 'height', 'kind': 'numeric', 'auc': 1.0}],
          'cue_folds': 5,
          'cue_model': 'HistGradientBoostingClassifier',
          'cue_verdict': 'the file cues alone separate the classes (AUC 1.00 [1.00, 1.00]; strongest: width, AUC '
                         '1.00): a detector can learn the storage instead of the generator; resize both classes to '
                         'one size and audit again',
          'pixel_corner_share': {'mean': 0.33702186235621934,
                                 'ci95': [0.2266730464266924, 0.45219319186495954],
                                 'p_value': 0.35,
                                 'null_median': 0.43707170506751614},
          'localisation': {'method': 'positive Welch t of block log residual energy, label-permutation null',
                           'grid': [16, 16],
                           'n_perm': 19,
                           'n_boot': 200,
                           'alpha': 0.05,
                           't_map': [0.6164946102929096, -0.4938707720056786, 0.6137908822771786],
                           'fake': {'corner_share': {'mean': 0.33702186235621934,
                                                     'ci95': [0.2266730464266924, 0.45219319186495954],
                                                     'p_value': 0.35,
                                                     'null_median': 0.43707170506751614},
                                    'corner_mass': 0.20162329779683233,
                                    'center_mass': 0.3966266091594236,
                                    'border_mass': 0.41694632381540475,
                                    'excess_energy': 0.0,
                                    'mean_positive_t': 0.0,
                                    'p_value': 1.0,
                                    'differs': False,
                                    'where': 'none',
                                    'localised': False},
                           'real': {'corner_share': {'mean': 0.644359108214417,
                                                     'ci95': [0.541760502926255, 0.7546658305693257],
                                                     'p_value': 0.05,
                                                     'null_median': 0.5184546301620966},
                                    'corner_mass': 0.31068780841334703,
                                    'center_mass': 0.1714778108083534,
                                    'border_mass': 0.48810344019058177,
                                    'excess_energy': 0.6823900082524426,
                                    'mean_positive_t': 5.034844927794802,
                                    'p_value': 0.05,
                                    'differs': False,
                                    'where': 'none',
                                    'localised': False}},
          'pixel_masses': {'corner_share': {'mean': 0.33702186235621934,
                                            'ci95': [0.2266730464266924, 0.45219319186495954],
                                            'p_value': 0.35,
                                            'null_median': 0.43707170506751614},
                           'corner_mass': 0.20162329779683233,
                           'center_mass': 0.3966266091594236,
                           'border_mass': 0.41694632381540475,
                           'excess_energy': 0.0,
                           'mean_positive_t': 0.0,
                           'p_value': 1.0,
                           'differs': False,
                           'where': 'none',
                           'localised': False},
          'pixel_masses_real': {'corner_share': {'mean': 0.644359108214417,
                                                 'ci95': [0.541760502926255, 0.7546658305693257],
                                                 'p_value': 0.05,
                                                 'null_median': 0.5184546301620966},
                                'corner_mass': 0.31068780841334703,
                                'center_mass': 0.1714778108083534,
                                'border_mass': 0.48810344019058177,
                                'excess_energy': 0.6823900082524426,
                                'mean_positive_t': 5.034844927794802,
                                'p_value': 0.05,
                                'differs': False,
                                'where': 'none',
                                'localised': False},
          'fingerprint': {'freq': [-0.0625, 0.03125],
                          'fake_power': 1.31737045266187,
                          'real_power': 0.11989970978318247,
                          'ratio': 10.987269736049425,
                          'sharpness': 20.155167448385136,
                          'sharpness_needed': 25.0,
                          'periodic_peak': False,
                          'compared': 'fakes and reals after the same resize'},
          'budget': {'storage': {'auc': 1.0,
                                 'ci95': [1.0, 1.0],
                                 'top': 'width',
                                 'top_auc': 1.0,
                                 'n_features': 18,
                                 'size_only': False},
                     'history': {'auc': 1.0,
                                 'ci95': [1.0, 1.0],
                                 'top': 'resampling_x_band0',
                                 'top_auc': 1.0,
                                 'n_features': 68},
                     'content': {'auc': 0.5737179487179488,
                                 'ci95': [0.3475160256410257, 0.755528846153846],
                                 'top': 'thumb16[2,14].g',
                                 'top_auc': 0.7916666666666666,
                                 'n_features': 970},
                     'residual': {'auc': 1.0,
                                  'ci95': [1.0, 1.0],
                                  'top': 'residual_log_energy',
                                  'top_auc': 1.0,
                                  'n_features': 44}},
          'per_split': {'val': {'folder': '/tmp/aigc_audit_ref/data/thin/val',
                                'n_images': 13,
                                'n_real': 12,
                                'n_fake': 1,
                                'cue_auc': None,
                                'cue_auc_ci95': [None, None],
                                'cues': [],
                                'pixel_corner_share': {'mean': None, 'ci95': [None, None], 'p_value': None},
                                'localisation': None,
                                'pixel_masses': {}}},
          'geometry': {'size': 32,
                       'requested': 32,
                       'enlarge': False,
                       'native_median': 32,
                       'native_min': 24,
                       'native_max': 32,
                       'n_enlarged': 13,
                       'max_enlargement': 1.3333333333333333,
                       'stated': False,
                       'statement': 'the audit itself enlarged 13 image(s) to 32 px, up to 1.3x their native size'},
          'n_skipped': 1,
          'settings': {'size': 32,
                       'enlarge': False,
                       'limit': None,
                       'reencode': None,
                       'folds': 5,
                       'n_boot': 100,
                       'n_perm': 19,
                       'seed': 0,
                       'corner_frac': 0.25,
                       'center_frac': 0.5,
                       'border_frac': 0.125},
          'warnings': [],
          'verdict': 'The file cues alone separate the classes (AUC 1.00 [1.00, 1.00]; strongest: width, AUC 1.0'}


def _images(n: int, seed: int, size: int = 32, bright: int = 0) -> list[np.ndarray]:
    """Smooth random colour fields with mild noise, all different (``bright`` shifts them all)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        low = rng.uniform(30, 200, size=(4, 4, 3)).astype(np.uint8)
        img = np.asarray(Image.fromarray(low).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float64)
        out.append(np.clip(img + bright + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8))
    return out


@pytest.fixture
def split_root(tmp_path: Path) -> Path:
    """train: 8 reals and 8 (brighter) fakes; val: 5 reals and a single fake (no localisation, no cue AUC)."""
    root = tmp_path / "data"
    for folder, images in (("train/0_real", _images(8, 0)), ("train/1_fake", _images(8, 1, bright=40)),
                           ("val/0_real", _images(5, 2)), ("val/1_fake", _images(1, 3, bright=40))):
        (root / folder).mkdir(parents=True)
        for i, img in enumerate(images):
            Image.fromarray(img).save(root / folder / f"{i:03d}.png")
    return root


def test_todays_audit_json_reads_back_key_for_key(split_root: Path, tmp_path: Path):
    assert audit_main(["--data", str(split_root), "--out", str(tmp_path / "a"), *FAST]) == 0
    raw = json.loads((tmp_path / "a" / "audit.json").read_text())
    summary = AuditSummary.from_json(raw)
    assert summary.to_json() == raw and list(summary.to_json()) == list(raw)  # same keys, order and values
    assert load_audit_run(tmp_path / "a").summary == summary
    val = summary.split("val")
    assert val.cue.auc is None and val.pixels.localisation is None and val.pixels.fake is None
    assert raw["per_split"]["val"]["pixel_masses"] == {} and "fingerprint" not in raw["per_split"]["val"]
    assert summary.split("all") is summary.overall and summary.overall.budget.history.n_features > 0
    assert summary.overall.pixels.fake == summary.overall.pixels.localisation.fake


def test_the_literal_from_before_the_records_reads_back():
    summary = AuditSummary.from_json(BEFORE)
    assert summary.to_json() == BEFORE and list(summary.to_json()) == list(BEFORE)
    assert summary.overall.cue.auc == 1.0 and summary.overall.budget.storage.size_only is False
    assert summary.geometry.statement() == BEFORE["geometry"]["statement"] and summary.split("val").cue.cues == []


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("cue_auc"), "audit.json: lacks 'cue_auc'"),
    (lambda d: d.update(cue_auc="high"), "audit.json.cue_auc: expected a number"),
    (lambda d: d["per_split"]["val"].pop("cues"), "audit.json.per_split.val: lacks 'cues'"),
    (lambda d: d["localisation"]["fake"].update(differs=1), "audit.json.localisation.fake.differs: expected true or"),
    (lambda d: d["budget"]["history"].update(auc=None), "audit.json.budget.history.auc: expected a number"),
    (lambda d: d["geometry"].pop("size"), "audit.json.geometry: lacks 'size'"),
    (lambda d: d.update(schema_version=1), "audit.json: schema_version 1 is not 2"),
    (lambda d: d["per_split"]["val"].update(pixel_masses=[]), "audit.json.per_split.val.pixel_masses: expected an"),
])
def test_a_wrong_key_or_type_is_a_record_error_naming_it(change, message):
    data = copy.deepcopy(BEFORE)
    change(data)
    with pytest.raises(RecordError, match=re.escape(message)):
        AuditSummary.from_json(data)


def test_the_reader_names_the_file_of_a_malformed_audit_json(split_root: Path, tmp_path: Path):
    out = tmp_path / "a"
    assert audit_main(["--data", str(split_root / "val"), "--out", str(out), *FAST]) == 0
    raw = json.loads((out / "audit.json").read_text())
    (out / "audit.json").write_text(json.dumps({**raw, "geometry": {**raw["geometry"], "size": "32"}}))
    mark_complete(out, "audit")  # the record rewritten too: only the content check can catch it
    with pytest.raises(ValueError, match=re.escape(str(out / "audit.json")) + r" .*audit\.json\.geometry\.size: "
                                         r"expected an integer, got '32'; run the command"):
        load_audit_run(out)


class Brightness(FeatureKind):
    """A toy data-side cue: each image's mean grey level (the fakes here are brighter)."""
    name = "brightness"

    def names(self) -> list[str]:
        return ["mean_level"]

    def features(self, batch: Batch) -> np.ndarray:
        return batch.images.mean(axis=(1, 2, 3))[:, None]


class Count:
    """A toy kind written against the protocol alone: counts images per class and draws a constant map."""
    name = "count"

    def __init__(self, ctx: Context) -> None:
        self.shape, self.n = ctx.shape, np.zeros(2, np.int64)

    def add(self, batch: Batch) -> None:
        self.n += np.bincount(batch.labels, minlength=2)

    def merge(self, other: Count) -> None:
        self.n += other.n

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"n": self.n.copy()}

    def summary(self) -> None:  # no part of audit.json
        return None

    def maps(self) -> dict[str, np.ndarray]:
        return {"count_fake": np.full(self.shape, float(self.n[1]))}


def test_a_new_kind_is_gathered_without_an_edit_elsewhere(split_root: Path):
    settings = AuditSettings(size=32, n_boot=50, n_perm=19)
    result = run_audit(split_root, settings, kinds=(*EVIDENCE_KINDS, Brightness, Count))
    for name, ev in result.evidence.items():
        assert ev.kind("count").n.tolist() == np.bincount(ev.labels, minlength=2).tolist(), name  # every image
        assert isinstance(ev.kind("count"), EvidenceKind)
        budget_rows = [k.name for k in ev.kinds if getattr(k, "budget", False)]  # the budget is overall only
        assert budget_rows == (["history", "content", "residual", "brightness"] if name == ALL else []), name
    assert isinstance(result.evidence[ALL].kind("brightness"), EvidenceKind)
    budget = result.summary.overall.budget
    row = budget.rows()["brightness"]
    assert isinstance(row, BudgetEntry) and row.top == "mean_level" and row.auc > 0.9
    assert list(budget.rows()) == ["storage", "history", "content", "residual", "brightness"]
    assert "brightness AUC" in result.summary.verdict and "The brightness features — to" in result.summary.verdict
    data = json.loads(json.dumps(result.summary.to_json()))
    assert list(data["budget"])[-1] == "brightness" and AuditSummary.from_json(data).to_json() == data
    assert evidence_maps(result.evidence[ALL])["count_fake"][0, 0] == 9.0  # its map goes into pixel_evidence.npz
    with pytest.raises(ValueError, match=r"every kind needs a name of its own, got \[.*'count', 'count'\]"):
        run_audit(split_root, settings, kinds=(*EVIDENCE_KINDS, Count, Count))


def test_every_kind_follows_the_protocol_and_merges_like_one_pass():
    ctx = Context(AuditSettings(size=32, n_boot=50, n_perm=19, folds=2), 32, 2)
    images = np.stack(_images(8, 5) + _images(8, 6, bright=30))
    labels = np.repeat([0, 1], 8)
    rows = [{"format": "PNG", "width": 32 + int(y)} for y in labels]

    def batch(index: np.ndarray, kind: EvidenceKind) -> Batch:
        read = getattr(kind, "image_features", None)  # a kind that reads native-size images
        native = {kind.name: np.stack([read(images[i]) for i in index])} if read else {}
        return Batch(images[index], labels[index], [rows[i] for i in index], native)

    halves = np.r_[0:4, 8:12], np.r_[4:8, 12:16]  # both halves hold both classes
    for make in EVIDENCE_KINDS:
        whole, first, second = make(ctx), make(ctx), make(ctx)
        assert isinstance(whole, EvidenceKind), make
        whole.add(batch(np.concatenate(halves), whole))
        first.add(batch(halves[0], first))
        second.add(batch(halves[1], second))
        first.merge(second)
        a, b = whole.state_dict(), first.state_dict()
        for key in (set(a) | set(b)) - {"next_id"}:  # next_id: the next image id, which shards set apart themselves
            if a[key].dtype == object:
                assert a[key].tolist() == b[key].tolist(), (make, key)
            else:
                np.testing.assert_allclose(a[key], b[key], rtol=1e-9, atol=1e-12, err_msg=f"{make} {key}")
        maps, merged = whole.maps(), first.maps()
        for key in set(maps) | set(merged):
            np.testing.assert_allclose(maps[key], merged[key], rtol=1e-9, atol=1e-12, err_msg=f"{make} {key}")
