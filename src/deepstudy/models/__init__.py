"""The model zoo: ``create(name, **kw)``, ``build(name, input_shape, num_classes, **kw)``, ``names()``.

Every architecture is a plain ``nn.Module`` with keyword arguments; files read top-to-bottom
(blocks, network, named constructors).
"""
from deepstudy.models import cnn, inception, mlp, mobile, resnet, text, vgg, vit  # noqa: F401  (registers the families)
from deepstudy.models.registry import build, check_kwargs, checked_build, create, entry, example, names, unbuildable
from deepstudy.models.summary import Row, summarize

__all__ = ["build", "check_kwargs", "checked_build", "create", "entry", "example", "names", "summarize", "Row",
           "unbuildable"]
