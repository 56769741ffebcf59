"""The grad-cam internals the fast path relies on, checked by name and signature, so an upgrade that changes
them fails here loudly (pyproject pins grad-cam below 1.6 for the same reason)."""

import inspect

import pytorch_grad_cam as pgc
from pytorch_grad_cam import score_cam
from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients
from pytorch_grad_cam.base_cam import BaseCAM

from aigc_explain.explain.methods import METHODS


def _params(func) -> list[str]:
    return list(inspect.signature(func).parameters)


def test_get_cam_image_takes_activations_and_grads():
    # methods._fast_chunk calls cam.get_cam_image(x, layer, targets, activations, grads, eigen_smooth)
    assert _params(BaseCAM.get_cam_image) == ["self", "input_tensor", "target_layer", "targets", "activations",
                                              "grads", "eigen_smooth"]


def test_fullgrad_capture_point_and_release_exist():
    # methods._fallback_chunk swaps compute_cam_per_layer (fullgrad) and get_cam_image for one call
    assert _params(BaseCAM.compute_cam_per_layer) == ["self", "input_tensor", "targets", "eigen_smooth"]
    assert callable(getattr(ActivationsAndGradients, "release", None))
    assert "target_layers" in _params(BaseCAM.__init__) and "reshape_transform" in _params(BaseCAM.__init__)


def test_scorecam_reads_the_batch_size_attribute():
    assert "self.batch_size" in inspect.getsource(score_cam.ScoreCAM)


def test_every_method_class_is_grad_cams():
    for name, cls in METHODS.items():
        assert issubclass(cls, BaseCAM), name
        assert getattr(pgc, cls.__name__) is cls, name
