"""Reach: of the models a user would expect gradlint to check, how many it checks, and how much
of each model the whole-model gain covers.

    python bench/reach.py              # the project shapes in bench/reach/ and the ctor fixtures
    python bench/reach.py --json       # one record per expected model

Each directory in bench/reach/ is a small project written in a shape real PyTorch repositories
use (options parsed at import and read by the model classes, a registry and a factory, a JSON or
YAML config splatted into the constructor, sub-models injected into a wrapper, a forward that takes
a timestep, a batch dict (columns into embeddings; ids, a mask and labels read by name) or a hidden
state, a forward that preallocates its outputs and fills them step by step, a VAE returning
(recon, mu, logvar), a translation Transformer taking masks, a package with relative imports, a
model built by a helper function, a constructor argument nothing in the project gives, a
LightningModule and the network it wraps built from a Hydra config's `_target_` mappings, or from
a LightningCLI config's `class_path` and `init_args`, a forward taking images and caption ids, an
einops patch embedding, a forward taking `*_lengths` for packing, a minGPT config filled by a
preset and the script, argparse options with `required=True`, a padding index read from a
vocabulary). EXPECTED names the models a user would expect checked. Each project is linted cold, as a user would run `gradlint DIR`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REACH = ROOT / "bench" / "reach"

# project directory → the models a user expects checked; each is a class, or a class with the names
# under which gradlint may report an instance of it ("Generator=generator": the file's own
# `generator = Generator()`; "ResNet=resnet10t,resnet18_gn": the registry's factories)
EXPECTED: dict[str, tuple[str, ...]] = {
    "bench/reach/gan_argparse_globals": ("Generator=generator", "Discriminator=discriminator"),
    "bench/reach/registry_factory": ("ResNet=resnet10t,resnet18_gn",),
    "bench/reach/json_config": ("TextCNN=load_model",),
    "bench/reach/seq2seq_injected": ("Seq2Seq=model",),
    "bench/reach/diffusion_timestep": ("UNet",),
    "bench/reach/dict_batch": ("TabularClassifier",),
    "bench/reach/dict_batch_text": ("TextClassifier",),
    "bench/reach/vae_tuple": ("ConvVAE",),
    "bench/reach/transformer_translation": ("Seq2SeqTransformer=transformer",),
    "bench/reach/hf_custom_config": ("TinyMixerModel",),
    "bench/reach/package_relative": ("Detector",),
    "bench/reach/sequential_builder": ("policy", "value"),
    "bench/reach/rnn_hidden": ("CharRNN",),
    "bench/reach/required_num_classes": ("AudioCNN",),
    "bench/reach/yaml_cfg_factory": ("Encoder",),
    "bench/reach/hydra_lightning": ("ClassifierModule",),
    "bench/reach/lightning_cli": ("ImageClassifier",),
    "bench/reach/image_captioning": ("ImageCaptioner",),
    "bench/reach/script_fails_before_class": ("SpeechCommandNet",),
    "bench/reach/stated_image_size": ("SmallViT",),
    "bench/reach/bigram_table": ("BigramLanguageModel",),
    "bench/reach/char_rnn_one_step": ("CharGenerator",),
    "bench/reach/transformer_lm_mask": ("TransformerModel",),
    "bench/reach/einops_patch_vit": ("ViT",),
    "bench/reach/packed_lengths": ("LSTMClassifier",),
    "bench/reach/mingpt_presets": ("GPT",),
    "bench/reach/argparse_required": ("TabularResNet",),
    "bench/reach/pad_index_from_vocab": ("CNN",),
    "bench/reach/double_precision_script": ("Surrogate=model",),
    "bench/reach/checkpoint_dataclass": ("Transformer",),
    "fixtures/ctor_word_lm": ("RNNModel",),
    "fixtures/ctor_gpt_config": ("GPT",),
    "fixtures/ctor_vit": ("ViT",),
    "fixtures/script_tutorial": ("NeuralNetwork=model",),
}


def lint(project: str) -> tuple[dict, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gradlint", project, "--no-cache", "--exit-zero",
                           "--output-format", "json"], cwd=ROOT, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    try:
        return json.loads(done.stdout), seconds
    except ValueError:
        return {"files": [], "error": (done.stderr.strip().splitlines() or ["no output"])[-1]}, seconds


def records(project: str, expected: tuple[str, ...]) -> list[dict]:
    report, seconds = lint(project)
    statuses = {m["name"]: (f["path"], m) for f in report.get("files", []) for m in f.get("model_status", [])}
    problems = [p["message"] for f in report.get("files", []) for p in f.get("problems", [])]
    rows = []
    for expectation in expected:
        name, _, aliases = expectation.partition("=")
        found = [statuses[n] for n in (name, *filter(None, aliases.split(","))) if n in statuses]
        # the best-covered of the names it may go by
        path, status = max(found, key=lambda f: (f[1]["status"] == "checked", bool(f[1].get("span"))),
                           default=(None, None))
        span = (status or {}).get("span")
        rows.append({
            "project": project, "model": name, "file": path, "seconds": round(seconds, 1),
            "status": status["status"] if status else "not found",
            "why": (status or {}).get("why") or (status or {}).get("span_note")
                   or (problems[0] if problems and not status else report.get("error")),
            "built_from": (status or {}).get("built_from"),
            "inputs_from": (status or {}).get("inputs_from"),
            "span": f"{span['layers_in_span']}/{span['layers_in_model']}" if span else None,
            "span_share": span["layers_in_span"] / max(span["layers_in_model"], 1) if span else 0.0,
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("-k", default="", help="only projects whose path contains this")
    args = parser.parse_args()
    rows = [r for project, names in EXPECTED.items() if args.k in project for r in records(project, names)]
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print("| project | model | status | span depth | built / inputs | why not (fully) checked |")
    print("|---|---|---|---:|---|---|")
    for r in rows:
        how = "; ".join(x for x in (r["built_from"], r["inputs_from"] and f"inputs: {r['inputs_from']}") if x)
        print(f"| {Path(r['project']).name} | {r['model']} | {r['status']} | {r['span'] or '—'} | "
              f"{how or '—'} | {(r['why'] or '').replace('|', '/')} |")
    checked = [r for r in rows if r["status"] == "checked"]
    deep = [r for r in checked if r["span_share"] >= 0.9]
    print(f"\n{len(checked)} of {len(rows)} expected models checked; {len(deep)} of them with a main "
          f"span covering at least 90% of their weight layers.")


if __name__ == "__main__":
    main()
