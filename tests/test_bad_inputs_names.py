"""Bad inputs around renamed names: ``num_classes`` (Net1D's ``n_classes`` until ecgfm 0.2.0)
given twice, or an impossible head size. Each fails with the right error type and a message
naming the argument to keep (the Python API: ``num_classes=``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from _catalogue import advice_test, unique_ids_test
from _shared import FIXTURES

from ecgfm.convert.ecgfounder import load_ecgfounder
from ecgfm.hub import PretrainedCard, pretrained_card
from ecgfm.models import create_model
from ecgfm.models.net1d import Net1D

TINY = {"base_filters": 16, "filter_list": (16, 32), "m_blocks_list": (1, 1)}


def _card_with_both_names() -> PretrainedCard:
    d = pretrained_card("selfmis-lead1").to_dict()
    d["arch_args"] = {"n_classes": 0, "num_classes": 0}
    return PretrainedCard.from_dict(d)


BAD: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    ("net1d-both-head-names", lambda: Net1D(**TINY, num_classes=3, n_classes=3), TypeError,
     "pass only num_classes="),
    ("create-model-both-head-names",
     lambda: create_model("net1d_small", num_classes=1, n_classes=1), TypeError,
     "create_model arguments name both 'n_classes' and its new name 'num_classes'; keep only"),
    ("load-ecgfounder-both-head-names",
     lambda: load_ecgfounder(FIXTURES / "ecgfounder_small_12lead.pth", num_classes=0, n_classes=0),
     TypeError, "pass only num_classes="),
    ("card-json-both-head-names", _card_with_both_names, ValueError, "keep only 'num_classes'"),
    ("card-both-head-names",
     lambda: pretrained_card("selfmis-lead1").replace(arch_args={"n_classes": 0, "num_classes": 0}),
     ValueError, "card field arch_args name both 'n_classes' and its new name 'num_classes'"),
    ("net1d-negative-head", lambda: Net1D(**TINY, num_classes=-1), ValueError,
     r"num_classes must be an int >= 0 \(0 = no head\)"),
    ("net1d-bool-head", lambda: Net1D(**TINY, num_classes=True), ValueError,
     r"num_classes must be an int >= 0"),
    ("reset-classifier-negative", lambda: Net1D(**TINY).reset_classifier(-1), ValueError,
     r"reset_classifier: num_classes must be an int >= 0"),
    ("reset-classifier-float", lambda: Net1D(**TINY).reset_classifier(2.0), ValueError,
     r"reset_classifier: num_classes must be an int >= 0"),
]  # fmt: skip


test_catalogue_ids_unique = unique_ids_test(BAD)


# the old name may warn DeprecationWarning before it fails
test_bad_input_fails_with_advice = advice_test(BAD, filterwarnings=["ignore::DeprecationWarning"])
