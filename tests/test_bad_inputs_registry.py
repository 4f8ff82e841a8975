"""Bad inputs of the model registry (architectures and their default presets), of the
pretrained entries listed per architecture, of ``preset_for_arch`` and of preset names: each
fails with the right error type and a message naming what to pass instead (the Python API:
``list_models()``, ``list_presets()``, close matches)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from _catalogue import advice_test, unique_ids_test
from torch import nn

import ecgfm
from ecgfm.eval import preset_for_arch
from ecgfm.models import (
    create_model,
    default_preset,
    list_models,
    register_model,
    unregister_model,
)
from ecgfm.transforms.presets import UnknownPresetError, get_preset


def _identity(**kw: Any) -> nn.Module:
    return nn.Identity()


BAD: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    # --- registering an architecture
    ("register-uppercase-name", lambda: register_model("Net1D_Mine"), ValueError,
     "lowercase without spaces"),
    ("register-name-not-str", lambda: register_model(3), TypeError,  # type: ignore[arg-type]
     "strings such as 'net1d_small'"),
    ("register-preset-alias-spelling", lambda: register_model("regbad_a", preset="st-mem"),
     ValueError, r"list_presets\(\)"),
    ("register-preset-uppercase", lambda: register_model("regbad_b", preset="ST_MEM"),
     ValueError, "lowercase letters, digits and '_'"),
    ("register-preset-not-str", lambda: register_model("regbad_c", preset=get_preset("hl")),
     TypeError, "preset name such as 'st_mem'"),  # a Preset object, not its name
    ("register-twice", lambda: register_model("net1d_small")(_identity), ValueError,
     "choose another name"),
    ("unregister-unknown", lambda: unregister_model("net1d_smal"), KeyError,
     "Did you mean 'net1d_small'"),
    # --- querying the registry
    ("default-preset-typo", lambda: default_preset("st_mem_vit_bas"), KeyError,
     r"Did you mean 'st_mem_vit_base'.*list_models\(\)"),
    ("default-preset-not-str", lambda: default_preset(None), TypeError,  # type: ignore[arg-type]
     "strings such as 'net1d_small'"),
    ("create-model-not-str", lambda: create_model(nn.Identity), TypeError,  # type: ignore[arg-type]
     "strings such as 'net1d_small'"),
    ("list-models-pattern-not-str", lambda: list_models(["net1d_*"]), TypeError,  # type: ignore[arg-type]
     "glob string such as 'net1d_"),
    ("list-pretrained-arch-typo", lambda: ecgfm.list_pretrained(arch="net1d_ecgfounder_lead"),
     KeyError, "Did you mean 'net1d_ecgfounder_lead1'"),
    ("list-pretrained-arch-not-str", lambda: ecgfm.list_pretrained(arch=3), TypeError,  # type: ignore[arg-type]
     r"architecture name such as 'st_mem_vit_base' \(see ecgfm.list_models\(\)\)"),
    ("list-pretrained-entry-as-arch", lambda: ecgfm.list_pretrained(arch="st-mem-tiny"),
     KeyError, r"not an architecture; its architecture is 'st_mem_vit_small'"),
    # --- the default preset of an architecture
    ("preset-for-arch-typo", lambda: preset_for_arch("hl_vit_p60_d2_w521"), ValueError,
     "no default preset .*Did you mean 'hl_vit_p60_d2_w512'"),
    ("preset-for-arch-leads-string", lambda: preset_for_arch("net1d_small", "I"), TypeError,
     r"sequence of lead names such as \('I',\)"),
    # --- preset names
    ("preset-typo", lambda: get_preset("selfmiss"), UnknownPresetError,
     "did you mean 'selfmis'"),
    ("preset-arch-name-as-preset", lambda: get_preset("st_mem_vit_base"), UnknownPresetError,
     "did you mean 'st_mem'"),
    ("preset-not-str", lambda: get_preset(None), TypeError, "must be a string"),  # type: ignore[arg-type]
]  # fmt: skip


test_catalogue_ids_unique = unique_ids_test(BAD)


@contextmanager
def _registers_nothing() -> Iterator[None]:
    before = list_models()
    yield
    assert list_models() == before  # a failed registration registers nothing


test_bad_input_fails_with_advice = advice_test(BAD, guard=_registers_nothing)
