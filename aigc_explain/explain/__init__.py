"""Explaining detectors with CAMs — the package's only importer of grad-cam.

``layers`` (target layers, reshapes), ``methods`` (grad-cam's methods on a fast exact path), ``maps``
(resolutions), ``folder`` (a whole folder: ``CamSettings``, ``CamResult``, ``explain_folder``), ``save``
(the CAM run folder), ``shards`` (merging ``--shard`` runs, torchrun), ``road`` (grad-cam's ROAD metric).
"""

from aigc_explain.explain.folder import CamResult, CamSettings, explain_folder, explain_samples
from aigc_explain.explain.save import save_result, save_run

__all__ = ["CamResult", "CamSettings", "explain_folder", "explain_samples", "save_result", "save_run"]
