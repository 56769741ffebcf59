"""The output contract in one place: the names other commands and users rely on (README, "The CAM output
contract"). Writers and the reader take every column, group and file name from here. Pure constants."""

from __future__ import annotations

RECORD = "aigc_run.json"  # every run folder's record: status and, once complete, every file with size and sha256
LOCK = ".aigc_run.lock"  # flock'd for the run's life; names the holder (runs.locks)
JOURNAL = ".aigc_run.journal"  # every file the run wrote, appended before it is written (runs.locks)

SUMMARY_SCHEMA_VERSION = 1  # summary.json of a CAM run (runs.summaries.CamSummary); another version is refused
LABEL_NAMES = {0: "real", 1: "fake", -1: "unknown"}  # label 0 = real (0_real), 1 = fake (1_fake)
LABEL_VALUES = {name: value for value, name in LABEL_NAMES.items()}

# per_image.csv of a CAM run
MASS_KEYS = ("corner_mass", "center_mass", "border_mass", "corner_share")
CSV_COLUMNS = ("path", "label", "prob_fake", "pred", "cam_empty", *MASS_KEYS)
# predictions.csv of an evaluation run (the first columns of per_image.csv too)
PREDICTION_COLUMNS = ("path", "label", "prob_fake", "pred")
# groups of images a CAM run aggregates (mean_cam_<group>.npy) and summarises (summary.json "groups")
GROUPS = ("all", "real", "fake", "pred_real", "pred_fake")
CLASSES = ("all", "real", "fake")  # the groups two runs are compared on
# history.csv of a training run
HISTORY_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s")

# A run folder's kind, told by the files it holds.
KINDS: dict[str, tuple[str, ...]] = {"cam": ("summary.json", "per_image.csv"), "training": ("history.csv",),
                                     "evaluation": ("metrics.json", "predictions.csv"), "audit": ("audit.json",),
                                     "diagnose": ("diagnose.json",)}

# What a run folder written before records and journals existed may hold (any other file there is the user's).
LEGACY_OUTPUTS = ("manifest.json", "skipped.csv", "summary.json", "per_image.csv", "cams.npz", "aggregates.npz",
                  "mean_cam_*.npy", "mean_cam_*.png", "overlays.png", "overlays/*.png", "history.csv", "*.pth",
                  "metrics.json", "predictions.csv", "cross_domain.*", "robustness.*", "audit.json", "audit.md", "*.png",
                  "*.npz", "comparison.json", "index.md", "sanity.json", "faithfulness.json", "spectra.npz")
