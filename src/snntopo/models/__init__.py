"""Model zoo: CONV-6, CIFAR ResNet-20/32, WRN-28-2, MobileNetV2 (CIFAR) and tiny test models.

Importing this package registers every model; ``MODELS.names()`` lists them.
"""

from snntopo.models import conv6, mobilenetv2, resnet, tiny, wrn  # noqa: F401  (registration)
from snntopo.models.registry import (
    MODELS,
    build_model,
    count_parameters,
    init_model,
    kaiming_init,
    prunable_parameters,
    register_model,
)
from snntopo.models.store import load_init, save_init

__all__ = [
    "MODELS",
    "build_model",
    "count_parameters",
    "init_model",
    "kaiming_init",
    "load_init",
    "prunable_parameters",
    "register_model",
    "save_init",
]
