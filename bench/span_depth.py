"""Span depth across architecture families: for each, built from a small config with random
weights (no downloads), how much of the model gradlint's whole-model analysis covers.

    python bench/span_depth.py            # every family below, one table
    python bench/span_depth.py llama mamba --json

Prints, per family: the model's status (checked / partly analysed / ...), the weight layers in
the main span over the weight layers in the model (what GL102/GL202/GL203 judge by prediction and
measurement), the weight layers the probe measured outside it, and the findings at warning level
or above. The claim it checks: no model is "checked" unless its gain was analysed, predicted or
measured, over at least 90% of its weight layers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=128, vocab_size=1000)
DECODER = dict(SIZES, num_key_value_heads=2)
# family -> (config class, model class, config keywords)
FAMILIES: dict[str, tuple[str, str, dict]] = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", dict(n_embd=64, n_layer=4, n_head=4, vocab_size=1000)),
    "gpt-neo": ("GPTNeoConfig", "GPTNeoForCausalLM", dict(hidden_size=64, num_layers=4, num_heads=4, vocab_size=1000,
                                                          attention_types=[[["global", "local"], 2]])),
    "gpt-neox (rotary)": ("GPTNeoXConfig", "GPTNeoXForCausalLM", SIZES),
    "gpt-j (rotary)": ("GPTJConfig", "GPTJForCausalLM", dict(n_embd=64, n_layer=4, n_head=4, rotary_dim=8,
                                                             vocab_size=1000)),
    "codegen (rotary)": ("CodeGenConfig", "CodeGenForCausalLM", dict(n_embd=64, n_layer=4, n_head=4, rotary_dim=8,
                                                                     vocab_size=1000)),
    "llama": ("LlamaConfig", "LlamaForCausalLM", DECODER),
    "mistral": ("MistralConfig", "MistralForCausalLM", DECODER),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", DECODER),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", dict(DECODER, head_dim=16)),
    "gemma": ("GemmaConfig", "GemmaForCausalLM", dict(DECODER, head_dim=16)),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", dict(DECODER, head_dim=16)),
    "phi": ("PhiConfig", "PhiForCausalLM", SIZES),
    "phi3": ("Phi3Config", "Phi3ForCausalLM", dict(DECODER, pad_token_id=0)),
    "stablelm": ("StableLmConfig", "StableLmForCausalLM", DECODER),
    "olmo": ("OlmoConfig", "OlmoForCausalLM", DECODER),
    "falcon": ("FalconConfig", "FalconForCausalLM", dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                                                         vocab_size=1000)),
    "bloom": ("BloomConfig", "BloomForCausalLM", dict(hidden_size=64, n_layer=4, n_head=4, vocab_size=1000)),
    "opt": ("OPTConfig", "OPTForCausalLM", dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                                               ffn_dim=128, word_embed_proj_dim=64, vocab_size=1000)),
    "starcoder2": ("Starcoder2Config", "Starcoder2ForCausalLM", DECODER),
    "mixtral (MoE)": ("MixtralConfig", "MixtralForCausalLM", dict(DECODER, num_local_experts=4, num_experts_per_tok=2)),
    "qwen2-moe (MoE)": ("Qwen2MoeConfig", "Qwen2MoeForCausalLM", dict(DECODER, num_experts=4, num_experts_per_tok=2,
                                                                       moe_intermediate_size=64,
                                                                       shared_expert_intermediate_size=64)),
    "mamba (selective scan)": ("MambaConfig", "MambaForCausalLM", dict(hidden_size=64, num_hidden_layers=4,
                                                                        state_size=8, vocab_size=1000)),
    "bert": ("BertConfig", "BertForSequenceClassification", SIZES),
    "roberta": ("RobertaConfig", "RobertaForSequenceClassification", SIZES),
    "distilbert": ("DistilBertConfig", "DistilBertForSequenceClassification", dict(dim=64, n_layers=4, n_heads=4,
                                                                                    hidden_dim=128, vocab_size=1000)),
    "electra": ("ElectraConfig", "ElectraForSequenceClassification", dict(SIZES, embedding_size=64)),
    "albert": ("AlbertConfig", "AlbertForSequenceClassification", dict(SIZES, embedding_size=32)),
    "deberta-v2": ("DebertaV2Config", "DebertaV2ForSequenceClassification", SIZES),
    "t5": ("T5Config", "T5ForConditionalGeneration", dict(d_model=64, d_ff=128, num_layers=4, num_heads=4, d_kv=16,
                                                          vocab_size=1000)),
    "bart": ("BartConfig", "BartForConditionalGeneration", dict(d_model=64, encoder_layers=4, decoder_layers=4,
                                                                encoder_attention_heads=4, decoder_attention_heads=4,
                                                                encoder_ffn_dim=128, decoder_ffn_dim=128,
                                                                vocab_size=1000)),
    "pegasus": ("PegasusConfig", "PegasusForConditionalGeneration", dict(d_model=64, encoder_layers=4, decoder_layers=4,
                                                                         encoder_attention_heads=4,
                                                                         decoder_attention_heads=4, encoder_ffn_dim=128,
                                                                         decoder_ffn_dim=128, vocab_size=1000)),
    "vit": ("ViTConfig", "ViTForImageClassification", dict(SIZES, image_size=32, patch_size=8)),
    "swin": ("SwinConfig", "SwinForImageClassification", dict(image_size=32, patch_size=4, embed_dim=16,
                                                              depths=[2, 2], num_heads=[2, 4], window_size=4)),
    "convnext": ("ConvNextConfig", "ConvNextForImageClassification", dict(hidden_sizes=[16, 32, 64, 128],
                                                                          depths=[2, 2, 2, 2])),
    "resnet": ("ResNetConfig", "ResNetForImageClassification", dict(embedding_size=16, hidden_sizes=[16, 32, 64, 128],
                                                                    depths=[2, 2, 2, 2])),
    "mobilenet-v2 (inverted residual)": ("MobileNetV2Config", "MobileNetV2ForImageClassification",
                                         dict(image_size=32, depth_multiplier=0.35)),
    "wav2vec2": ("Wav2Vec2Config", "Wav2Vec2ForSequenceClassification", dict(SIZES, conv_dim=(32, 32, 32),
                                                                             conv_stride=(5, 2, 2),
                                                                             conv_kernel=(10, 3, 3),
                                                                             num_feat_extract_layers=3)),
}


def one(name: str) -> dict:
    import torch
    import transformers

    import gradlint

    config_name, model_name, keywords = FAMILIES[name]
    started = time.perf_counter()
    try:
        torch.manual_seed(0)
        config = getattr(transformers, config_name)(**keywords)
        model = getattr(transformers, model_name)(config)
    except Exception as exc:  # noqa: BLE001 - a family this transformers does not build
        return {"family": name, "status": "not built", "why": f"{type(exc).__name__}: {str(exc)[:120]}"}
    report = gradlint.check_model(model)
    span = report.span or {}
    return {"family": name, "status": report.status, "why": report.problem or report.unprobed or report.partly_traced or report.partly_analysed,
            "span": f"{span['layers_in_span']}/{span['layers_in_model']}" if span else "-",
            "measured": (span or {}).get("layers_measured_outside", "-"), "findings": sorted({f"{f.code} {f.severity.name.lower()}"
                                                                     for f in report.findings
                                                                     if f.severity.name.lower() != "info"}),
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("families", nargs="*", help=f"default: all of {', '.join(FAMILIES)}")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [one(name) for name in (args.families or FAMILIES)]
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print("| family | status | span depth | measured outside the span | findings ≥ warning | why not checked |")
    print("|---|---|---:|---:|---|---|")
    for row in rows:
        print(f"| {row['family']} | {row['status']} | {row.get('span', '-')} | {row.get('measured', '-')} | "
              f"{', '.join(row.get('findings', [])) or '-'} | {row.get('why') or ''} |")
    checked = sum(r["status"] == "checked" for r in rows)
    print(f"\n{checked} of {len(rows)} families checked over ≥ 90% of their weight layers")


if __name__ == "__main__":
    main()
