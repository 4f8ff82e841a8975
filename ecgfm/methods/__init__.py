"""The four methods of ecgfm, each assembled in one module.

A method module builds everything one pre-training run needs and nothing else: the encoder
(what is exported and published), the preprocessing preset, the view generator, the loss and
the *objective* (one ``nn.Module`` holding model, heads and loss, whose forward returns the
loss: what DistributedDataParallel wraps), plus ``training_loss`` (one optimisation step's
loss from a batch of preprocessed windows) and ``validation_metrics``. The reference loops in
``examples/`` only parse arguments, load data and call :func:`ecgfm.train.loop.fit`.

========================  ===================================  ===========================
method                    module                               example
========================  ===================================  ===========================
SelfMIS                   :mod:`ecgfm.methods.selfmis`         ``examples/train_selfmis.py``
ST-MEM                    :mod:`ecgfm.methods.st_mem`          ``examples/pretrain_stmem.py``
Hybrid Learning (HL)      :mod:`ecgfm.methods.hl`              ``examples/pretrain_hybrid.py``
Dual-View transformer     :mod:`ecgfm.methods.dualview`        ``examples/pretrain_dualview.py``
========================  ===================================  ===========================

The SelfMIS method class is :class:`~ecgfm.methods.selfmis.SelfMISMethod`: the name
``SelfMIS`` is the student/teacher pair :class:`ecgfm.models.selfmis.SelfMIS` it builds.

The building blocks stay where they are (models in :mod:`ecgfm.models`, losses in
:mod:`ecgfm.losses`, views in :mod:`ecgfm.transforms.views`, presets in
:mod:`ecgfm.transforms.presets`) and can be composed differently by hand.
"""

from typing import TYPE_CHECKING

from ecgfm._lazy import attach

if TYPE_CHECKING:
    from ecgfm.methods.dualview import DualView
    from ecgfm.methods.hl import HybridLearning
    from ecgfm.methods.selfmis import SelfMISMethod
    from ecgfm.methods.st_mem import STMEM

__getattr__, __dir__ = attach(
    __name__,
    attributes={
        "ecgfm.methods.dualview": ["DualView"],
        "ecgfm.methods.hl": ["HybridLearning"],
        "ecgfm.methods.selfmis": ["SelfMISMethod"],
        "ecgfm.methods.st_mem": ["STMEM"],
    },
)

__all__ = ["STMEM", "DualView", "HybridLearning", "SelfMISMethod"]
