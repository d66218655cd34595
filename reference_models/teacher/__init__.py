"""Stage-1 full-modality teacher (MMIN ``utt_fusion``, IF-MMIN / NMER ``utt_shared``) and the backbone."""

from reference_models.teacher.config import BackboneConfig, TeacherConfig
from reference_models.teacher.losses import pairwise_cmd, teacher_loss
from reference_models.teacher.model import Backbone, Embeddings, Teacher, TeacherOutput

__all__ = [
    "Backbone",
    "BackboneConfig",
    "Embeddings",
    "Teacher",
    "TeacherConfig",
    "TeacherOutput",
    "pairwise_cmd",
    "teacher_loss",
]
