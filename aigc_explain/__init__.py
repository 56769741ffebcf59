"""aigc_explain: train, explain and check detectors of AI-generated images.

Importing the package is cheap on purpose: torch, timm, grad-cam and matplotlib are imported by the
modules that need them, never here.
"""

__version__ = "0.1.0"

CLASS_NAMES = ("real", "fake")  # label 0 = real, label 1 = fake (the report's 0_real / 1_fake)
