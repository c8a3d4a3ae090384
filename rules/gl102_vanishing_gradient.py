from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

from gradlint.check.rule import (
    CLASS_H,
    CLASS_S,
    MEASURED,
    ModelContext,
    Rule,
    Thresholds,
    gain_text,
    span_verdict,
    verdict,
)
from gradlint.core.findings import Finding, Severity
from gradlint.source.edits import Proposal

# Structural rules that already explain a gradient that shrinks, with a more precise fix.
EXPLAINED_BY = ("GL101", "GL201", "GL301")


def _norm(ctx: ModelContext, probe, node: str) -> float | None:
    """The norm of the loss gradient at ``node``'s output (its RMS × √size), when measured."""
    rms, shape = probe.grad_rms.get(node), ctx.graph.nodes[node]["shape"]
    if rms is None or not math.isfinite(rms) or shape is None:
        return None
    return rms * math.sqrt(math.prod(shape))


def _output_norm(ctx: ModelContext, probe) -> float | None:
    """The norm of the loss gradient over the model's output tensors, when measured."""
    graph = ctx.graph
    norms = [_norm(ctx, probe, p) for n, f in graph.nodes(data=True) if f["kind"] == "output"
             for p in graph.predecessors(n)]
    norms = [x for x in norms if x]
    return math.sqrt(sum(x * x for x in norms)) if norms else None


def _located(ctx: ModelContext, node: str) -> str:
    """The node itself, or (for a span starting on the model's input) the first node after it
    that has a source line."""
    queue = [node]
    seen = set()
    while queue:
        current = queue.pop(0)
        if ctx.graph.nodes[current]["source"] is not None:
            return current
        seen.add(current)
        queue.extend(sorted(s for s in ctx.graph.successors(current) if s not in seen))
    return node


def _initializer_fix(ctx: ModelContext, start: str, end: str) -> str | None:
    """For a plain span (no normalization, no residual block) whose typical weight layer has a
    per-layer gain χ outside GL601's band: the initializer that gives χ ≈ 1 (THEORY.md §1)."""
    from gradlint.rules.gl601_init_scale import _INIT, InitScale

    analysis, graph = ctx.analysis, ctx.graph
    if analysis.main_span_class == "N" or analysis.residual_blocks:
        return None
    gains, route, kind = analysis.meanfield, analysis.main_route(), analysis.topology.kind
    # each weight layer with the first activation after it on the route before the next weight
    # layer: one pass over the route (a layer's activation is settled when it is seen)
    pairs: list[list[str | None]] = []
    for node in route:
        if kind[node] == "weight":
            pairs.append([node, None])
        elif kind[node] == "activation" and pairs and pairs[-1][1] is None:
            pairs[-1][1] = node
    layers: list[tuple[float, str | None]] = []
    for node, activation in pairs:
        chi = gains[node][1] * (gains[activation][1] if activation else 1.0)
        layers.append((chi, graph.nodes[activation]["activation"] if activation else None))
    if not layers:
        return None
    low, high = InitScale.options["low"], InitScale.options["high"]
    chis = sorted(chi for chi, _ in layers)
    median = chis[len(chis) // 2]
    if low <= median <= high:
        return None
    activations = [a for _, a in layers if a]
    common = max(set(activations), key=activations.count) if activations else None
    init = _INIT.get(common or "", "nn.init.orthogonal_(w)" if common is None else "nn.init.kaiming_normal_(w)")
    return f"initialize every layer with {init} (the typical layer's χ is {median:.2g}, THEORY.md §1)"


class VanishingGradient(Rule):
    """
    ## What it does
    Predicts the gradient ratio across the model's main span — from the first weight layer on
    the longest path from the data input (or the residual stream that starts there) to the
    latest tensor that every gradient reaching it crosses (the logits; the last hidden state of
    an encoder whose states are the output; through the decoder of an encoder-decoder) — by
    propagating the mean-field squared gain backwards over *every* path: a residual block
    contributes 1 + χ(branch), a zero-initialized branch end contributes exactly 1, a gate its
    own scale, pooling, token selection and resizing their share of the elements (THEORY.md §1).
    The ratio is of the gradient's norms (the RMS ratio times √(size at the start / size at
    the end)): a narrowing layer or a max-pooling divides the RMS without losing gradient, and
    a He-initialized layer keeps the norm exactly. An average over k positions (a global
    average pool, a mean over tokens) hands each position 1/k of the gradient, but the weights
    shared over those positions receive the sum, so it is counted as keeping the gradient too. When the classifier (or any layer every
    gradient crosses) is zero-initialized, as in Fixup, the span ends at its input and the
    probe puts its loss there. `gradlint -v` prints the span and its depth (weight layers in
    the span / in the model); a model without a span says so, and this rule does not run. It flags the model when the gradient shrinks past the threshold of
    its class, and only when no structural rule (GL101, GL201, GL301) already explains it.
    Spans that cross a recurrence (an RNN module, or a layer applied at every time step) are
    left to GL301, which judges them over the horizon.

    ## Why is this bad?
    Layers whose gradient is 1e-4 of the last layer's barely learn: He et al. 2015's 30-layer
    net at D ≈ −4.3 did not train. Deep residual networks avoid this through their skip paths,
    which is why the prediction sums over paths rather than following one.

    ## Example
    ```python
    for block in self.blocks:          # 40 residual blocks whose branch ends in sigmoid(...)*x
        x = block(x) * torch.sigmoid(self.gate(x))
    ```

    Use instead:
    ```python
    for block in self.blocks:
        x = x + block(self.norm(x))    # pre-norm residual blocks keep D near 0
    ```

    `gradlint --fix --unsafe-fixes` acts only where the finding names an initializer (a plain
    stack whose typical layer is mis-scaled): it replaces the model's own weight initializers by
    it, or adds the init loop where the model is built. A damped skip path or a gate gets no edit.

    ## Options
    - `warning-d` (2.0), `error-d` (4.0): |D| thresholds for ReLU-family, linear, normalized and
      residual models (THEORY.md §3, class H).
    - `saturating-warning-d` (0.65), `saturating-error-d` (1.3): for models carried by saturating
      activations without normalization (THEORY.md §3, class S).

    The probe measures the same ratio (RMS of the activation gradient at both ends of the span);
    a finding it does not confirm is kept as info. The measurement is the evidence, the
    prediction a hypothesis: where the prediction flagged nothing, or flagged the opposite
    direction (GL202's growth where the gradient in fact falls), the measured ratio past the
    threshold is a finding of its own — at its measured severity after an opposite prediction,
    from the error threshold otherwise (one short seeded batch against a prediction that saw
    nothing). A normalized path's measured growth is left alone: the 32-layer BatchNorm-ReLU
    stacks of the evaluation suite measure past 10⁴ at initialization and train. Weight layers
    that no main span covers (a side input's branch, the layers an encoder-decoder's span leaves
    out; every layer of a model without a span) are judged by their measured gradient norm
    against the model's output, from the error threshold (class H's, 10⁴), so that no model is
    called checked with part of it unjudged (see the model statuses).

    ## References
    - He et al. 2015; Schoenholz et al. 2017; THEORY.md §1–§3.
    """

    code = "GL102"
    name = "vanishing-gradient"
    severity = Severity.ERROR
    summary = "Gradient predicted (and measured) to vanish across the model's main path"
    fix = "add normalization or residual connections, or initialize for the activation (kaiming/xavier)"
    needs_weights = True
    explained_by = EXPLAINED_BY
    direction = -1
    options = {
        "warning-d": CLASS_H.warning, "error-d": CLASS_H.error,
        "saturating-warning-d": CLASS_S.warning, "saturating-error-d": CLASS_S.error,
    }

    def thresholds(self, network_class: str) -> Thresholds:
        if network_class == "S":
            return Thresholds(self.opts["saturating-warning-d"], self.opts["saturating-error-d"])
        return Thresholds(self.opts["warning-d"], self.opts["error-d"])

    def check(self, ctx: ModelContext) -> Iterable[Finding]:
        if ctx.analysis is None or ctx.analysis.main_span is None:
            return
        if any(f.code in self.explained_by and (f.static_d or 0) * self.direction > 0 for f in ctx.prior):
            return
        start, end = ctx.analysis.main_span
        if self._crosses_recurrence(ctx, start, end):
            return  # gradients across time steps are GL301's business, with the recurrent class
        static_d = ctx.analysis.span_gain(start, end)
        if static_d * self.direction <= 0:
            return
        severity = self.thresholds(ctx.analysis.main_span_class).severity(static_d)
        if severity is None:
            return
        severity = self.adjust(severity, ctx)
        finding = self.make(
            ctx.location(_located(ctx, start), end),
            "the gradient {direction} by {gain} from `{last}` back to `{first}` (predicted over "
            "every path of the main span)",
            {"direction": "shrinks" if static_d < 0 else "grows", "gain": gain_text(static_d),
             "first": ctx.label(start), "last": ctx.label(end)},
            severity=severity, model=ctx.model_name, node=ctx.label(start), span=(start, end),
            static_d=static_d,
        )
        init = _initializer_fix(ctx, start, end)
        yield dataclasses.replace(finding, fix=f"{init}; or {self.fix}") if init else finding

    def adjust(self, severity: Severity, ctx: ModelContext) -> Severity:
        return severity

    @staticmethod
    def _crosses_recurrence(ctx: ModelContext, start: str, end: str) -> bool:
        graph = ctx.graph
        between = ctx.analysis.between(start, end) | {start, end}
        return any(graph.nodes[n]["kind"] == "recurrent" for n in between) or bool(
            between & ctx.analysis.recurrent_nodes)

    def confirm(self, finding: Finding, ctx: ModelContext, measured) -> Finding:
        # the probe's RMS ratio, turned into the ratio of norms the prediction is about
        return span_verdict(finding, ctx, measured, self.thresholds(ctx.analysis.main_span_class),
                            correction=ctx.analysis.judged_correction(*finding.span))

    def measure(self, ctx: ModelContext, measured) -> Iterable[Finding]:
        """What the measurement says where the prediction did not flag: the main span's measured
        ratio, and the weight layers no span covers (measured against the model's output)."""
        if ctx.analysis is None or measured.graph is None:
            return
        if any(f.code == self.code for f in ctx.prior) or any(
                f.code in self.explained_by and (f.static_d or 0) * self.direction > 0 for f in ctx.prior):
            return  # predicted (and confirmed or not by span_verdict), or explained by a structural rule
        found = self._measured_span(ctx, measured.graph)
        if found is None:
            found = self._measured_outside(ctx, measured.graph)
        if found is not None:
            yield found

    def _measured_span(self, ctx: ModelContext, probe) -> Finding | None:
        """The main span's measured ratio past this rule's threshold: at its measured severity
        when the prediction flagged the opposite direction (the measurement is the evidence),
        else from the error threshold only (a prediction that saw nothing and a measurement of
        one short seeded batch agree on everything milder)."""
        span = ctx.analysis.main_span
        if span is None or self._crosses_recurrence(ctx, *span):
            return None
        d = probe.span_d(*span)
        if d is None or not math.isfinite(d):
            return None
        d += ctx.analysis.judged_correction(*span)
        network_class = ctx.analysis.main_span_class
        if network_class == "N" and self.direction > 0:
            # a normalized path's growth at initialization overstates the risk (its gradients
            # equilibrate after the first steps, GL202's docs): the measured growth of the
            # 32-layer BatchNorm-ReLU stacks of the evaluation suite is past 10⁴ and they train
            return None
        thresholds = self.thresholds(network_class)
        opposite = any(f.span == span and (f.static_d or 0) * self.direction < 0 for f in ctx.prior)
        severity = thresholds.severity(d) if d * self.direction > 0 else None
        if severity is None or (not opposite and severity is not Severity.ERROR):
            return None
        start, end = span
        predicted = ctx.analysis.span_gain(start, end)
        finding = self.make(
            ctx.location(_located(ctx, start), end),
            "the gradient {direction} by {gain} from `{last}` back to `{first}` (measured; the "
            "prediction over every path of the main span said {predicted})",
            {"direction": "shrinks" if d < 0 else "grows", "gain": gain_text(d), "first": ctx.label(start),
             "last": ctx.label(end), "predicted": gain_text(predicted)},
            severity=self.adjust(severity, ctx), model=ctx.model_name, node=ctx.label(start), span=span,
        )
        return verdict(finding, MEASURED, f"gradient at `{ctx.label(start)}` is {gain_text(d)} of "
                       f"`{ctx.label(end)}`", d)

    def _measured_outside(self, ctx: ModelContext, probe) -> Finding | None:
        """The weight layer outside the main span (every layer, without one) whose gradient norm,
        measured against the model's output, is furthest past the error threshold."""
        outside = ctx.analysis.unspanned_layers
        reference = _output_norm(ctx, probe)
        if not outside or reference is None:
            return None
        error = float(self.opts["error-d"])  # class H's: no saturating chain's bands outside a span
        worst = None
        for key, nodes in sorted(outside.items()):
            for node in nodes:
                if node in ctx.analysis.recurrent_nodes or ctx.graph.nodes[node]["kind"] == "recurrent":
                    continue  # over time steps: GL301's
                norm = _norm(ctx, probe, node)
                if norm is None or norm == 0.0:
                    continue
                d = math.log10(norm / reference)
                if d * self.direction >= error and (worst is None or d * self.direction > worst[0] * self.direction):
                    worst = (d, key, node)
        if worst is None:
            return None
        d, key, node = worst
        finding = self.make(
            ctx.location(node),
            "the gradient {direction} by {gain} from the model's output back to `{layer}` (measured; "
            "no main span covers this layer, so no prediction judged it)",
            {"direction": "shrinks" if d < 0 else "grows", "gain": gain_text(d), "layer": key},
            severity=self.adjust(Severity.ERROR, ctx), model=ctx.model_name, node=ctx.label(node),
        )
        return verdict(finding, MEASURED, f"gradient norm at `{key}` is {gain_text(d)} of the output's", d)

    def propose(self, finding: Finding, sources) -> Proposal | None:
        """Unsafe, and only where the finding names an initializer (a plain stack whose typical
        layer's χ is off): the model's own weight initializers replaced by it, or the init loop
        added where the model is built. A damped skip path or a gate has no edit that can be told
        from the finding: None."""
        from gradlint.rules._model_fixes import activation_of, builder, init_call, replace_init
        from gradlint.rules.gl601_init_scale import _INIT

        named, activation = activation_of(finding.fix or "", _INIT)
        built = builder(finding, sources) if named else None
        edits = replace_init(built, activation) if built is not None else None
        if not edits:
            return None
        return Proposal(f"initialize every weight layer with `{init_call(activation, built.nn, 'w')}`",
                        tuple(edits), safe=False)

    # a tiny model file this rule flags on the line marked `# expect:`, and the same file
    # fixed (tests/test_rule_examples.py runs both)
    invalid = '''\
        from torch import nn


        class SmallInit(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                                         nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
                for m in self.net:
                    if isinstance(m, nn.Linear):
                        nn.init.normal_(m.weight, std=0.01)

            def forward(self, x):
                return self.net(x)  # expect: GL102 warning
        '''
    valid = '''\
        from torch import nn


        class HeInit(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                                         nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
                for m in self.net:
                    if isinstance(m, nn.Linear):
                        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

            def forward(self, x):
                return self.net(x)
        '''
