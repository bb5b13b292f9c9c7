"""deepstudy — build, train, compare and explain neural networks on real data.

Library entry points: ``deepstudy.models``, ``deepstudy.data``, ``deepstudy.train``,
``deepstudy.evaluate``, ``deepstudy.config`` and ``deepstudy.study``. The CLI is ``deepstudy``.
"""
__version__ = "0.1.0"
