"""Reference models MMIN, IF-MMIN and NMER, trained and evaluated with mmnoise.

Each model is a frozen config dataclass (paper defaults), a pure ``nn.Module`` whose
``forward(batch)`` reads the mmnoise sample format by modality name and returns a frozen output
dataclass, and pure loss functions returning named terms. Training and evaluation live beside
them in :mod:`reference_models.train`, metrics in :mod:`reference_models.metrics`.
"""

from reference_models.ifmmin import IFMMIN, IFMMINConfig
from reference_models.mmin import MMIN, MMINConfig
from reference_models.nmer import NMER, NMERConfig
from reference_models.teacher import BackboneConfig, Teacher, TeacherConfig
from reference_models.train import (
    StageConfig,
    TrainConfig,
    TrainedModel,
    evaluate,
    load_trained,
    model_config,
    paper_train_config,
    predict_fn,
    train_model,
)

__all__ = [
    "IFMMIN",
    "MMIN",
    "NMER",
    "BackboneConfig",
    "IFMMINConfig",
    "MMINConfig",
    "NMERConfig",
    "StageConfig",
    "Teacher",
    "TeacherConfig",
    "TrainConfig",
    "TrainedModel",
    "evaluate",
    "load_trained",
    "model_config",
    "paper_train_config",
    "predict_fn",
    "train_model",
]
