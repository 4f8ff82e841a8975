"""Render a :class:`PretrainedCard` as a human-readable model card (``README.md``).

The file starts with the YAML front matter the Hugging Face Hub reads (licence, library,
tags), so a directory written by ``save_pretrained`` can be uploaded as is.
"""

from __future__ import annotations

import json

from ecgfm.hub._card import PretrainedCard, TrainingInfo

__all__ = ["card_to_markdown"]

_HF_LICENSES = {
    "mit": "mit",
    "apache-2.0": "apache-2.0",
    "bsd-3-clause": "bsd-3-clause",
    "cc-by-4.0": "cc-by-4.0",
    "cc by 4.0": "cc-by-4.0",
    "cc-by-nc-4.0": "cc-by-nc-4.0",
    "cc by-nc 4.0": "cc-by-nc-4.0",
}


def _hf_license(license_: str) -> str:
    return _HF_LICENSES.get(license_.strip().lower(), "other")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _training_lines(tr: TrainingInfo) -> list[str]:
    lines = [
        f"- Data: {tr.data}",
        f"- Steps: {tr.steps if tr.steps is not None else 'not reported'}",
        f"- Compute: {tr.compute or 'not reported'}",
    ]
    if tr.recipe:
        lines.append(f"- Recipe: {tr.recipe}")
    return lines


def _digest(sha256: str | None) -> str:
    return f"weights sha256 `{sha256}`" if sha256 else "no weights digest recorded"


def card_to_markdown(card: PretrainedCard) -> str:
    """The model card of ``card`` as Markdown with Hugging Face front matter."""
    inp, w, tr = card.input, card.weights, card.training
    tags = ["ecg", "ecgfm", "pytorch", *card.tags]
    lines = [
        "---",
        f"license: {_hf_license(card.license)}",
    ]
    if _hf_license(card.license) == "other":
        lines.append(f"license_name: {json.dumps(card.license)}")
    lines += [
        "library_name: ecgfm",
        "tags:",
        *[f"- {json.dumps(t)}" for t in dict.fromkeys(tags)],
        "---",
        "",
        f"# {card.name}",
        "",
    ]
    if card.description:
        lines += [card.description, ""]
    base = card.base_model
    if base is not None:
        lines += [
            f"> **Derived weights.** Derived from `{base.name}` ({_digest(base.sha256)}) and "
            "changed after loading: the base card's metrics and limitations do not describe "
            "these weights and are not repeated here (see *Base model* below).",
            "",
        ]
    if not w.redistributable:
        lines += [
            f"> **Not redistributable.** The licence ({card.license}) forbids re-hosting these "
            "weights: keep this directory private and do not upload it.",
            "",
        ]
    lines += [
        "## Usage",
        "",
        "```python",
        "import ecgfm",
        "",
        f'model = ecgfm.from_pretrained("{card.name}")  # registered name: ecgfm.list_pretrained()',
        '# or: ecgfm.from_pretrained("path/to/a/saved/directory") / ("hf-hub:owner/repo")',
        "emb = model.embed(signal, fs=fs, leads=leads)  # signal (C, T) in mV, any fs / lead order",
        "```",
        "",
        "`embed` resamples, selects/derives leads, windows and preprocesses the input as below.",
        "",
        "## Architecture",
        "",
        "| field | value |",
        "| --- | --- |",
        f"| architecture | `{card.arch}` |",
        f"| constructor args | `{_cell(json.dumps(dict(card.arch_args), sort_keys=True))}` |",
        f"| embedding dim | {card.embed_dim} |",
        f"| parameters | {card.num_params:,} |",
        "",
        "## Input contract",
        "",
        "| field | value |",
        "| --- | --- |",
        f"| sampling rate | {inp.fs:g} Hz |",
        f"| leads | {', '.join(inp.leads)} |",
        f"| window length | {inp.length} samples ({inp.length / inp.fs:g} s) |",
        f"| units | {inp.units} |",
        f"| preprocessing preset | `{inp.preset}` |",
        "",
    ]
    if inp.preset_config is not None:
        lines += [
            "Preset configuration (filters and normalisation):",
            "",
            "```json",
            json.dumps(inp.preset_config, indent=2, sort_keys=True),
            "```",
            "",
        ]
    lines += [
        "## Weights",
        "",
        "| field | value |",
        "| --- | --- |",
        f"| format | {w.format} |",
        f"| storage dtype | {w.storage_dtype} |",
    ]
    if w.file:
        lines.append(f"| file | `{w.file}` |")
    if w.sha256:
        lines.append(f"| sha256 | `{w.sha256}` |")
    if w.hf_repo_id:
        rev = w.hf_revision or "main"
        lines.append(f"| Hugging Face | `{w.hf_repo_id}` / `{w.hf_filename}` @ `{rev}` |")
    if w.user_file_hint:
        lines.append(f"| how to obtain | {_cell(w.user_file_hint)} |")
    lines += ["", "## Training", "", *_training_lines(tr)]
    if base is not None:
        lines += ["", "## Base model", "", f"`{base.name}` ({_digest(base.sha256)})."]
        if base.training is not None:
            lines += [
                "",
                "The base model's training (it describes the base, not these weights):",
                "",
                *_training_lines(base.training),
            ]
    lines += ["", "## Metrics", ""]
    if card.metrics:
        lines += [
            "Rows naming a model other than this entry are baselines, measured on the same",
            "records with the command in their row (95 % bootstrap confidence intervals in",
            "brackets).",
            "",
            "| task | model | dataset | split | metric | value | command |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for m in card.metrics:
            value = f"{m.value:.3f}"
            if m.ci95 is not None:
                value += f" [{m.ci95[0]:.3f}, {m.ci95[1]:.3f}]"
            model = _cell(m.model) if m.model else f"**{card.name}**"
            lines.append(
                f"| {_cell(m.task)} | {model} | {_cell(m.dataset)} | {_cell(m.split)} | "
                f"{_cell(m.metric)} | {value} | `{_cell(m.command)}` |"
            )
    else:
        lines.append("No metrics measured by ecgfm for these weights yet.")
    if card.limitations:
        lines += ["", "## Limitations", "", card.limitations]
    lines += [
        "",
        "## Licence",
        "",
        card.license,
        "",
        "## Citation",
        "",
        card.paper,
        "",
    ]
    return "\n".join(lines)
