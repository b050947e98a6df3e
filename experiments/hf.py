"""Run folders to Hugging Face folders and back (``bipe export-hf`` / ``bipe import-hf``).

An export of ``RUN`` holds what :func:`bipe.models.hf_export.write_hf_folder` writes (the
model's code, config, weights, generation config), the run's tokenizer
(:mod:`bipe.experiments.hf_tokenizer`), a model card ``README.md`` (task, encoding, training
range, evaluation table, usage, licence, citation) and the run's own files under
``bipe_run/`` (``config.json``, ``eval.json``, ``manifest.json``, ``tokenizer.json`` where
present), from which ``bipe import-hf`` rebuilds the run folder: ``model.pt`` with the exact
weights and config, plus those files.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import bipe
from bipe.experiments.rundir import read_json, read_run_config
from bipe.experiments.tasks import get_task
from bipe.models import ModelConfig
from bipe.models import load as load_model
from bipe.models import save as save_model

MIN_TRANSFORMERS = (4, 56)  # remote-code loaders before 4.56 loop on relative-import cycles
RUN_FILES = ("config.json", "eval.json", "manifest.json", "tokenizer.json")
RUN_SUBDIR = "bipe_run"
HEADER = (
    "# Copied from {source} of bipe {version} (bipe-workbench, MIT licence) by `bipe export-hf`.\n"
    "# It needs only torch and transformers: load with trust_remote_code=True.\n"
)
CITATION = """@inproceedings{he2024bipe,
  title     = {Two Stones Hit One Bird: Bilevel Positional Encoding for Better Length
               Extrapolation},
  author    = {He, Zhenyu and Feng, Guhao and Luo, Shengjie and Yang, Kai and Wang, Liwei and
               Xu, Jingjing and Zhang, Zhi and Yang, Hongxia and He, Di},
  booktitle = {International Conference on Machine Learning (ICML)},
  year      = {2024},
  note      = {arXiv:2401.16421}
}"""


def _require(*modules: str) -> None:
    """ValueError naming the ``hf`` extra when one of ``modules`` is not installed."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ValueError(
            f"Hugging Face export needs {', '.join(missing)}: pip install 'bipe-workbench[hf]'"
        )
    if "transformers" in modules:
        import transformers

        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
        if (major, minor) < MIN_TRANSFORMERS:
            raise ValueError(
                f"Hugging Face export needs transformers >= 4.56 (older versions loop forever "
                f"on the model code's import cycles), found {transformers.__version__}"
            )


def export_run(run_dir: str | Path, out: str | Path) -> Path:
    """Write the Hugging Face folder ``out`` (new) of the trained run ``run_dir``."""
    _require("transformers", "safetensors", "tokenizers")
    from bipe.models.hf_export import write_hf_folder

    run_dir, out = Path(run_dir), Path(out)
    config, _ = read_run_config(run_dir)
    if not (run_dir / "model.pt").is_file():
        raise ValueError(f"{run_dir}: no model.pt (training has not finished)")
    if out.exists():
        raise ValueError(f"{out} exists; give a new folder")
    model = load_model(run_dir / "model.pt")
    tokenizer = run_tokenizer(run_dir, config, model.config)
    special = {
        f"{name}_token_id": getattr(tokenizer, f"{name}_token_id")
        for name in ("eos", "pad", "bos")
        if getattr(tokenizer, f"{name}_token_id") is not None
    }
    evaluation = read_json(run_dir / "eval.json") if (run_dir / "eval.json").is_file() else None
    card = model_card(run_dir.name, config, model.config, evaluation, tokenizer)

    def extras(folder: Path) -> None:
        tokenizer.save_pretrained(folder)
        _portable_tokenizer_class(folder / "tokenizer_config.json")
        (folder / "README.md").write_text(card)
        (folder / RUN_SUBDIR).mkdir()
        for name in RUN_FILES:
            if (run_dir / name).is_file():
                shutil.copyfile(run_dir / name, folder / RUN_SUBDIR / name)

    header = HEADER.replace("{version}", bipe.__version__)
    write_hf_folder(model, out, header=header, extras=extras, special_ids=special)
    return out


def import_run(folder: str | Path, out: str | Path, *, model_only: bool = False) -> Path:
    """Rebuild a run folder ``out`` (new) from the export ``folder``; ``model_only`` writes
    ``model.pt`` alone (for exports without ``bipe_run/config.json``, e.g. re-saved ones)."""
    _require("safetensors")
    from bipe.experiments.config import RunConfig, config_from_dict, upgrade_run_dict
    from bipe.experiments.rundir import BOOKKEEPING
    from bipe.models.hf_export import read_hf_folder

    folder, out = Path(folder), Path(out)
    model = read_hf_folder(folder)
    if out.exists():
        raise ValueError(f"{out} exists; give a new folder")
    saved = folder / RUN_SUBDIR
    if not model_only:
        if not (saved / "config.json").is_file():
            raise ValueError(
                f"{folder}: no {RUN_SUBDIR}/config.json (the run's config); "
                "--model-only writes model.pt alone"
            )
        raw = read_json(saved / "config.json")
        body = {k: v for k, v in raw.items() if k not in BOOKKEEPING}
        run_config = config_from_dict(RunConfig, upgrade_run_dict(body))
        if run_config.model != model.config:
            raise ValueError(
                f"{folder}: {RUN_SUBDIR}/config.json describes another model than config.json"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        save_model(model, work / "model.pt")
        for name in () if model_only else RUN_FILES:
            if (saved / name).is_file():
                shutil.copyfile(saved / name, work / name)
        work.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def run_tokenizer(run_dir: Path, config: Any, model_cfg: ModelConfig):
    """The ``PreTrainedTokenizerFast`` of a run (see :mod:`bipe.experiments.hf_tokenizer`)."""
    from bipe.experiments import hf_tokenizer as hft

    task = get_task(config.task)
    if task.family == "text":
        from bipe.synthetic.text.separators import uses_blank_lines

        if (run_dir / "tokenizer.json").is_file():
            tokenizer = hft.bpe_tokenizer((run_dir / "tokenizer.json").read_text())
        elif config.data.tokenizer == "bytes":
            tokenizer = hft.byte_tokenizer(blank_lines=uses_blank_lines(config.data.separator_rule))
        else:
            raise ValueError(f"{run_dir}: a BPE run without tokenizer.json")
    else:
        words = task.token_words(config.data) or hft.token_names(
            model_cfg.vocab_size, model_cfg.level_separators()
        )
        special = {f"{n}_token": f"<{n}>" for n in ("pad", "eos") if f"<{n}>" in words}
        tokenizer = hft.word_tokenizer(words, **special)
    if len(tokenizer) != model_cfg.vocab_size:
        raise ValueError(
            f"{run_dir}: the tokenizer has {len(tokenizer)} tokens, the model "
            f"{model_cfg.vocab_size}"
        )
    return tokenizer


def _portable_tokenizer_class(path: Path) -> None:
    """Name the tokenizer class every transformers version knows (5.x writes its own
    ``TokenizersBackend``, which 4.x lacks; 5.x reads ``PreTrainedTokenizerFast`` as it)."""
    import json

    data = json.loads(path.read_text())
    data["tokenizer_class"] = "PreTrainedTokenizerFast"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _options(cfg: ModelConfig) -> str:
    """The model config fields that differ from their defaults, as ``key=value`` text."""
    default = ModelConfig(cfg.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads)
    skip = {"pe", "separators", "vocab_size", "d_model", "n_layers", "n_heads"}
    keys = [k for k, v in cfg.to_dict().items() if k not in skip and v != default.to_dict()[k]]
    return ", ".join(f"`{k}={getattr(cfg, k)!r}`" for k in keys) or "defaults"


def _eval_table(evaluation: dict[str, Any] | None) -> str:
    """The per-length evaluation as a Markdown table (scalar metrics only)."""
    if not evaluation or not evaluation.get("per_length"):
        return "No evaluation was recorded (run `bipe eval RUN` before exporting)."
    rows = evaluation["per_length"]
    keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and k != "length"]
    lines = ["| length | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for row in rows:
        cells = [
            f"{row.get(k):.4g}" if isinstance(row.get(k), float) else str(row.get(k)) for k in keys
        ]
        lines.append(f"| {row['length']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def model_card(
    name: str, config: Any, cfg: ModelConfig, evaluation: dict[str, Any] | None, tokenizer
) -> str:
    """The ``README.md`` of an export (see the module docstring)."""
    task = get_task(config.task)
    lo, hi = evaluation["train_range"] if evaluation else task.train_range(config.data)
    sep_text = ", ".join(f"{tokenizer.decode([s])!r} (id {s})" for s in _flat(cfg)) or "none"
    return f"""---
library_name: transformers
pipeline_tag: text-generation
tags: [bipe, positional-encoding, length-extrapolation, custom_code]
---

# {name}: `{cfg.pe}` on `{config.task}`

A decoder-only Transformer ({cfg.n_layers} layers, width {cfg.d_model}, {cfg.n_heads} heads,
vocabulary {cfg.vocab_size}) trained with bipe {bipe.__version__}, the bilevel positional
encoding workbench, on the task `{config.task}`.

- **Encoding**: `{cfg.pe}` with {_options(cfg)}.
- **Separators** (close a segment; the model computes its positions from them): {sep_text}.
- **Training range**: {lo} to {hi} {task.unit}; `data_seed` {config.data_seed}, `init_seed`
  {config.init_seed}, {config.train.steps} steps. The run's own files are in `bipe_run/`.

## Evaluation

{_eval_table(evaluation)}

## Usage

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained(PATH, trust_remote_code=True)
model = AutoModelForCausalLM.from_pretrained(PATH, trust_remote_code=True)
print(tok.decode(model.generate(**tok(PROMPT, return_tensors="pt"), max_new_tokens=32)[0]))
```

The model computes its positions (token index, segment index, intra-segment position) from
`input_ids` and the separators: do not pass `position_ids`. `generate` works with and
without the cache and with left padding (greedy, sampling, beam search); `labels` give
the next-token loss, so `Trainer` can fine-tune it. Serving engines with built-in position
schemes (vLLM, TGI) cannot run it. `bipe import-hf PATH --out RUN` turns this folder back into
a bipe run.

## Code and licence

`modeling_bipe.py`, `configuration_bipe.py` and `bipe_*.py` are copied from bipe
{bipe.__version__} (package `bipe-workbench`, MIT licence) and need only torch and
transformers.

## Citation

```bibtex
{CITATION}
```
"""


def _flat(cfg: ModelConfig) -> list[int]:
    return [int(s) for level in cfg.level_separators() for s in level]
