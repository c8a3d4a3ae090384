"""Real architectures: every healthy one traces fully and comes out clean; every injected
pathology is flagged by the rule that names it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from pathologies import edited, he_initialized, scaled_recurrence
from zoo import SMALL, _hf

import gradlint
from gradlint.core.settings import Settings
from gradlint.tracing.inputs import candidate_inputs

pytest.importorskip("transformers")


def build(name: str):
    model, inputs = SMALL[name]()
    if inputs is None:
        inputs = next(candidate_inputs(model, batch=4, seq_len=16, seed=0))
    return model, inputs


def tensors(inputs: dict) -> dict:
    """An edited graph takes the tensor inputs; the other inputs were baked in when traced."""
    return {k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)}


def serious(report):
    return [f for f in report.findings if f.severity >= gradlint.Severity.WARNING]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_healthy_model_traces_fully_and_is_clean(name):
    model, inputs = build(name)
    report = gradlint.check_model(model, inputs, settings=Settings(batch_size=4, seq_len=16))
    assert report.problem is None
    assert report.tracer == "value-guided fx"
    assert report.coverage >= 0.95
    assert serious(report) == [], [f.message for f in serious(report)]
    # the whole-model gain rules judge (almost) the whole model, not a stem
    assert report.span is not None, report.span_note
    # the whole model's gain analysed: predicted over the main span, the rest measured (BART's span
    # leaves the first decoder layer's attention out, 29 of 34 layers: the probe measures those 5)
    done, total = report.analysed
    assert done >= 0.9 * total and report.span["layers_in_model"] == total, (report.analysed, report.span)


PLAIN = {"bert", "gpt2", "t5", "llama", "qwen2", "vit", "resnet", "convnext", "wav2vec2", "whisper",
         "encoder-post-ln", "encoder-pre-ln"}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_residuals_removed_is_missing_skip_connections(name):
    model, inputs = build(name)
    pathological = edited(model, inputs, residuals=False)
    report = gradlint.check_model(pathological, tensors(inputs))
    assert "GL401" in {f.code for f in serious(report)}, [f.message for f in report.findings]


# Two zoo configs do not explode under that injection, rightly: a ResNet of 8 basic blocks grows
# the gradient by only ×80 (D ≈ 1.9: ×3 in squared gain per He-initialized block, minus the ReLU
# after each add), under every threshold; and ConvNeXt's layer scale (1e-6 at init) keeps every
# branch out of the stream with or without normalization. Their exploding variants are the
# same family one step further: ResNet-34's 16 blocks, and ConvNeXt with the layer scale at 1.
EXPLODING_VARIANT = {
    "resnet": _hf("ResNetConfig", "ResNetModel", embedding_size=16, hidden_sizes=[16, 32, 64, 128],
                  depths=[3, 4, 6, 3]),
    "convnext": _hf("ConvNextConfig", "ConvNextModel", hidden_sizes=[16, 32, 64, 128], depths=[2, 2, 2, 2],
                    layer_scale_init_value=1.0),
}
GAIN_RULES = {"GL102", "GL201", "GL202", "GL203"}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_norms_removed_and_he_init_is_flagged_as_exploding(name):
    """The pathology of THEORY.md §1 (unnormalized residual stacks, He-initialized: ×(1 + χ) per
    block), injected into every feed-forward family of the zoo."""
    model, inputs = EXPLODING_VARIANT[name]() if name in EXPLODING_VARIANT else SMALL[name]()
    if inputs is None:
        inputs = next(candidate_inputs(model, batch=4, seq_len=16, seed=0))
    pathological = he_initialized(edited(model, inputs, norms=False))
    report = gradlint.check_model(pathological, tensors(inputs))
    flagged = [f for f in serious(report) if f.code in GAIN_RULES]
    assert flagged, [f.message for f in report.findings]
    assert all((f.static_d or 0) > 0 for f in flagged)   # growing, not vanishing


@pytest.mark.parametrize("name", ["resnet", "convnext", "vit", "bert"])
def test_sigmoid_without_norms_or_residuals_is_a_saturating_chain(name):
    model, inputs = build(name)
    pathological = edited(model, inputs, residuals=False, norms=False, sigmoid=True)
    report = gradlint.check_model(pathological, tensors(inputs))
    assert "GL101" in {f.code for f in serious(report)}, [f.message for f in report.findings]


@pytest.mark.parametrize("name", ["lstm-lm", "gru-lm"])
def test_scaled_up_recurrent_weights_are_flagged(name):
    # Gated cells saturate: ×4 still measures as vanishing over 100 steps, ×10 explodes.
    model, inputs = build(name)
    report = gradlint.check_model(scaled_recurrence(model, 10.0), inputs)
    (finding,) = [f for f in serious(report) if f.code == "GL301"][:1]
    assert "explode" in finding.message
    assert finding.probe.confirmed and finding.probe.measured_d > 2


def test_scaled_down_vanilla_recurrence_is_flagged():
    from zoo import RecurrentLM

    torch.manual_seed(0)
    model = scaled_recurrence(RecurrentLM(torch.nn.RNN), 0.5)
    report = gradlint.check_model(model, torch.randint(0, 1000, (4, 16)))
    (finding,) = [f for f in serious(report) if f.code == "GL301"][:1]
    assert finding.probe.confirmed and finding.probe.measured_d < -4


def test_a_7b_model_on_the_meta_device_is_checked_for_structure_only():
    # in a fresh process, so that its peak memory is this check's alone
    code = """
import resource, torch, transformers, gradlint
with torch.device("meta"):
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig())
report = gradlint.check_model(model)
print(sum(p.numel() for p in model.parameters()), report.coverage, report.nodes, report.problem)
print(report.notes)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}).stdout.splitlines()
    params, coverage, nodes, problem = out[0].split()
    assert int(params) > 6e9 and float(coverage) == 1.0 and int(nodes) > 1000 and problem == "None"
    assert "meta device" in out[1] and "probe skipped" in out[1]
    assert int(out[2]) < 2 * 2**20  # KiB: peak memory under 2 GiB


def test_a_model_too_large_for_this_machine_is_not_probed(monkeypatch):
    from gradlint.core import limits

    monkeypatch.setattr(limits, "available_memory", lambda: 2**20)  # pretend 1 MiB is free
    model, inputs = build("bert")
    pathological = edited(model, inputs, residuals=False)
    report = gradlint.check_model(pathological, tensors(inputs))
    assert any(note.startswith("probe skipped: about") for note in report.notes)
    assert report.findings and all(f.probe is None for f in report.findings)


# Hugging Face models as a fine-tune calls them: the task head, a config that keeps its default
# use_cache=True, and the labelled batch as it comes (the loss branch is part of the model)
LABELLED = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", dict(n_embd=64, n_layer=4, n_head=4), "causal"),
    "llama": ("LlamaConfig", "LlamaForCausalLM", dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                                                      num_key_value_heads=2, intermediate_size=128), "causal"),
    "mistral": ("MistralConfig", "MistralForCausalLM", dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                                                            num_key_value_heads=2, intermediate_size=128), "causal"),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                                                      num_key_value_heads=2, intermediate_size=128), "causal"),
    "phi": ("PhiConfig", "PhiForCausalLM", dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                                                intermediate_size=128), "causal"),
    "bert": ("BertConfig", "BertForSequenceClassification", dict(hidden_size=64, num_hidden_layers=4,
                                                                 num_attention_heads=4, intermediate_size=128), "classes"),
    "roberta": ("RobertaConfig", "RobertaForSequenceClassification", dict(hidden_size=64, num_hidden_layers=4,
                                                                          num_attention_heads=4, intermediate_size=128),
                "classes"),
    "t5": ("T5Config", "T5ForConditionalGeneration", dict(d_model=64, d_ff=128, num_layers=4, num_heads=4, d_kv=16,
                                                          decoder_start_token_id=0, pad_token_id=0), "seq2seq"),
    "bart": ("BartConfig", "BartForConditionalGeneration", dict(d_model=64, encoder_layers=2, decoder_layers=2,
                                                                encoder_attention_heads=4, decoder_attention_heads=4,
                                                                encoder_ffn_dim=128, decoder_ffn_dim=128), "seq2seq"),
}


@pytest.mark.parametrize("name", sorted(LABELLED))
def test_a_labelled_batch_as_a_fine_tune_feeds_it_is_checked_over_the_whole_model(name):
    import transformers

    config_name, model_name, config, kind = LABELLED[name]
    torch.manual_seed(0)
    model = getattr(transformers, model_name)(getattr(transformers, config_name)(vocab_size=1000, **config))
    ids = torch.randint(3, 1000, (4, 16))
    labels = {"causal": ids, "classes": torch.tensor([0, 1, 0, 1]), "seq2seq": torch.randint(3, 1000, (4, 8))}[kind]
    batch = {"input_ids": ids, "attention_mask": torch.ones(4, 16, dtype=torch.long), "labels": labels}
    report = gradlint.check_model(model, batch, settings=Settings(batch_size=4, seq_len=16))
    assert report.problem is None and report.status == "checked", report.problem
    assert report.coverage == 1.0
    # the whole model's gain analysed: predicted over the main span, the rest measured (BART's span
    # leaves the first decoder layer's attention out, 29 of 34 layers: the probe measures those 5)
    done, total = report.analysed
    assert done >= 0.9 * total and report.span["layers_in_model"] == total, (report.analysed, report.span)
    assert serious(report) == [], [f.message for f in serious(report)]
