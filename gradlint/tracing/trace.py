"""Trace a model into a torch.fx graph, as completely as possible, with the user's source lines.

Two tracers share one class:

* **value-guided** (when example inputs exist): every op is also executed on the real example
  values, so Python control flow on shapes and values (``range(x.size(1))``, ``torch.zeros(
  x.size(0), H)``, ``if h.sum() > 0``) is decided by those values, the way the model really ran.
  Branches decided by a tensor's value are recorded as specializations. A Python loop over time
  steps unrolls into repeated calls of the same module, which is what the recurrence rule needs.
* **symbolic** (no inputs): plain ``torch.fx`` tracing.

Either way, a submodule whose tracing fails becomes an opaque leaf node and tracing is retried, so
one untraceable block never costs the whole model its analysis (measured: plain fx with
leaf-on-failure kept 13-100% of a Hugging Face model's parameters in the graph; the same loop
around the value-guided tracer, 100% on transformers 5.x).
Every node records the innermost frame outside torch and gradlint as its source location.

A tensor forward preallocates with a factory (``outputs = torch.zeros(T, B, V)``) is a graph node,
not a constant, and a write into a traced tensor (``outputs[t] = step``) a node that returns it, on
which every later use of ``outputs`` depends: a decoder filling its outputs step by step stays on
the gradient path.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import inspect
import keyword
import operator
import os
import re
import sys
import textwrap
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx
from torch.fx.node import map_aggregate
from torch.overrides import TorchFunctionMode

from gradlint.core.frames import GRADLINT_DIR, TORCH_DIR, user_location


# Attributes a proxy answers from its example value instead of recording a node.
_CONCRETE_ATTRS = frozenset(
    {"shape", "dtype", "device", "ndim", "is_cuda", "layout", "is_sparse", "is_quantized",
     "is_meta", "is_nested", "requires_grad"}
)
# Module classes traced as one node even though they are not in torch.nn: custom normalizations
# (LlamaRMSNorm, T5LayerNorm, ...). Rules need to see "a normalization" there, not its arithmetic.
NORM_CLASS = re.compile(r"(Norm|Normalization)(\d+d)?$")
# torch.nn modules whose inside the rules must see: containers, and the built-in transformer
# layers (their residual adds and norms; with grad enabled they take the traceable slow path).
_TRACED_THROUGH = (
    torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict, torch.nn.TransformerEncoderLayer,
    torch.nn.TransformerDecoderLayer, torch.nn.TransformerEncoder, torch.nn.TransformerDecoder,
    torch.nn.Transformer,
)
_MAX_OPAQUE_RETRIES = 64


class TraceError(Exception):
    """The model could not be traced at all; the message says why.

    ``forward_failed``: the model's own forward raised on the example values (not a tracer limit).
    """

    def __init__(self, message: str, forward_failed: bool = False) -> None:
        super().__init__(message)
        self.forward_failed = forward_failed


class _ConcreteError(Exception):
    """An op failed on the real example values: the model's forward itself is broken."""


@dataclasses.dataclass
class TraceResult:
    graph_module: fx.GraphModule
    tracer: str
    opaque: dict[str, str]  # qualified name of a submodule traced as one node -> why
    specializations: list[str]
    shapes: dict[str, tuple[int, ...]]  # node name -> output shape (value-guided only)
    floating: frozenset[str] = frozenset()  # nodes whose example value is a floating-point tensor


def _contains_tensor(value: Any) -> bool:
    found = False

    def visit(item: Any) -> Any:
        nonlocal found
        if isinstance(item, torch.Tensor):
            found = True
        return item

    map_aggregate(value, visit)
    return found


class _ValueProxy(fx.Proxy):
    """A proxy that also answers shape questions and Python protocols from its example value."""

    @property
    def example(self) -> Any:
        return self.tracer.values[self.node]  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        if name in _CONCRETE_ATTRS and self.tracer.guided:  # type: ignore[attr-defined]
            return getattr(self.example, name)
        if name.startswith("__") and name.endswith("__"):
            # protocol probes (__cuda_array_interface__, __array__, __dlpack__): a proxy is none
            # of those, so torch falls back to treating it as the tensor it stands for
            raise AttributeError(name)
        return super().__getattr__(name)

    def __len__(self) -> int:
        if self.tracer.guided:  # type: ignore[attr-defined]
            return len(self.example)
        return super().__len__()

    def __index__(self) -> int:
        return operator.index(self.example)

    def __contains__(self, key: Any) -> bool:
        if not self.tracer.guided:  # type: ignore[attr-defined]
            raise fx.proxy.TraceError("symbolically traced variables cannot be used in `in`")
        return key in self.example  # "labels" in batch

    def __setitem__(self, index: Any, value: Any) -> None:
        if not self.tracer.guided:  # type: ignore[attr-defined]
            raise TypeError(f"{type(self).__name__!r} object does not support item assignment")
        self.tracer.create_proxy("call_function", operator.setitem, (self, index, value), {})

    def __int__(self) -> int:
        return int(self.example)

    def __float__(self) -> float:
        return float(self.example)


class GradlintTracer(fx.Tracer):
    def __init__(self, inputs: dict[str, Any] | None, opaque: set[str]) -> None:
        super().__init__()
        self.guided = inputs is not None
        self.inputs = inputs or {}
        self.opaque = opaque
        self.values: dict[fx.Node, Any] = {}
        self.specializations: list[str] = []
        self.failed_module: str | None = None
        self.failed_function: Callable[..., Any] | None = None
        self._computing = False
        self._leaf_forward: Callable[..., Any] | None = None

    # --- which modules become single nodes -------------------------------------------------
    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        if module_qualified_name in self.opaque:   # failed to trace through: one node, retried
            return True
        if isinstance(m, _TRACED_THROUGH):
            return False
        if NORM_CLASS.search(type(m).__name__) and module_qualified_name:
            return True
        return super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m: torch.nn.Module, forward: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        if self._computing:
            return forward(*args, **kwargs)
        try:
            name = self.path_of_module(m)
        except NameError:
            # A module that is not in the model's tree has no name a graph node could call: a
            # function wrapped as a module and kept in a global (transformers >= 5.25 routes
            # apply_rotary_pos_emb & co. through the `kernels` hub this way), or a module a
            # forward builds on the fly. Its operations are traced as the caller's own.
            return forward(*args, **kwargs)

        def traced_forward(*a: Any, **k: Any) -> Any:
            try:
                return forward(*a, **k)
            except _ConcreteError:
                raise
            except Exception:
                if self.failed_module is None:
                    self.failed_module = name
                raise

        self._leaf_forward = forward
        return super().call_module(m, traced_forward, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict) -> Any:
        if self._computing:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    # --- proxies that carry example values -------------------------------------------------
    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _ValueProxy(node, self)

    def create_proxy(self, kind: str, target: Any, args: tuple, kwargs: dict, name: str | None = None,
                     type_expr: Any = None, proxy_factory_fn: Any = None) -> Any:
        value = None
        if self.guided:
            value = self._execute(kind, target, args, kwargs)
            if kind == "call_function" and target is operator.setitem and isinstance(args[0], fx.Proxy):
                return self._record_setitem(args, kwargs)
            if kind in ("call_function", "call_method", "call_module") and not _contains_tensor(value):
                # Shape arithmetic and Python values fold into constants, as they did at run time.
                return value
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        if self.guided:
            self.values[proxy.node] = value
        location = user_location()
        if location is not None:
            proxy.node.meta["gl_source"] = location
        return proxy

    def _record_setitem(self, args: tuple, kwargs: dict) -> None:
        """``outputs[t] = step`` (already applied to the example values): a node that writes and
        returns the tensor, and the user's variable now stands for that node, so later uses of
        ``outputs`` (its return) depend on every step written into it."""
        target = args[0]
        proxy = super().create_proxy("call_function", setitem, args, kwargs)
        self.values[proxy.node] = self.values[target.node]
        location = user_location()
        if location is not None:
            proxy.node.meta["gl_source"] = location
        target.node = proxy.node
        return None

    def _execute(self, kind: str, target: Any, args: tuple, kwargs: dict) -> Any:
        if kind == "placeholder":
            return self.inputs[target.lstrip("*")]
        if kind == "get_attr":
            self._computing = True  # plain attribute lookups, not fx's patched ones
            try:
                value: Any = self.root
                for atom in target.split("."):
                    value = getattr(value, atom)
                return value
            finally:
                self._computing = False
        if kind == "output":
            return None
        concrete_args = map_aggregate(args, self._unwrap)
        concrete_kwargs = map_aggregate(kwargs, self._unwrap)
        self._computing = True
        try:
            with torch.no_grad():
                if kind == "call_function":
                    return target(*concrete_args, **concrete_kwargs)
                if kind == "call_method":
                    return getattr(concrete_args[0], target)(*concrete_args[1:], **concrete_kwargs)
                assert self._leaf_forward is not None
                return self._leaf_forward(*concrete_args, **concrete_kwargs)
        except Exception as exc:
            where = user_location()
            at = f" at {os.path.relpath(where.path)}:{where.line}" if where else ""
            raise _ConcreteError(f"{type(exc).__name__} in forward{at}: {exc}") from exc
        finally:
            self._computing = False

    def _unwrap(self, item: Any) -> Any:
        if isinstance(item, fx.Proxy):
            return self.values[item.node]
        return item

    # --- Python protocols answered from example values --------------------------------------
    def to_bool(self, obj: fx.Proxy) -> bool:
        if not self.guided:
            return super().to_bool(obj)
        decision = bool(self.values[obj.node])
        where = user_location()
        at = f"{os.path.relpath(where.path)}:{where.line}" if where else "?"
        self.specializations.append(f"{at}: branch on a tensor value taken as {decision}")
        return decision

    def iter(self, obj: fx.Proxy) -> Iterator:
        if not self.guided:
            return super().iter(obj)
        return iter([obj[i] for i in range(len(self.values[obj.node]))])

    def keys(self, obj: fx.Proxy) -> Any:
        if not self.guided:
            return super().keys(obj)
        return self.values[obj.node].keys()


class _MetaDecisions(TorchFunctionMode):
    """Weights on the meta device have no values: a Python decision on one (``bool``, ``item``)
    is taken as False / 0 and recorded, so the structure of a model too large to build can still
    be traced."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _DECISIONS and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            where = user_location()
            at = f"{os.path.relpath(where.path)}:{where.line}" if where else "?"
            self.log.append(f"{at}: value unknown on the meta device, taken as 0/False")
            if func is torch.Tensor.tolist:
                return torch.zeros(args[0].shape, dtype=args[0].dtype).tolist()
            return False if func is torch.Tensor.__bool__ else 0
        return func(*args, **kwargs)


def _library_code(filename: str) -> bool:
    """Installed libraries' own factories (transformers' masks and position biases) stay the
    constants they were: only the project's forward is traced this way."""
    return filename.startswith(TORCH_DIR) or any(
        part in filename for part in (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep))


def setitem(tensor: torch.Tensor, index: Any, value: Any) -> torch.Tensor:
    """``tensor[index] = value``, returning the tensor it wrote into (the graph's form of it)."""
    tensor[index] = value
    return tensor


# Tensor factories a forward calls to preallocate a tensor it then fills.
_FACTORIES = frozenset({torch.zeros, torch.ones, torch.empty, torch.full,
                        torch.zeros_like, torch.ones_like, torch.empty_like, torch.full_like})


class _TracedFactories(TorchFunctionMode):
    """``torch.zeros`` and its kin, called from the project's own forward while it is traced by
    value: a graph node (not a constant), so that a tensor preallocated there and written into
    stays in the graph. A torch function mode is local to the tracing thread and leaves the
    ``torch`` module as it is (``from torch import zeros`` is seen too)."""

    def __init__(self, tracer: GradlintTracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if (func in _FACTORIES and not self.tracer._computing
                and not _library_code(sys._getframe(1).f_code.co_filename)):
            return self.tracer.create_proxy("call_function", func, args, kwargs)
        return func(*args, **kwargs)


_DECISIONS = (torch.Tensor.__bool__, torch.Tensor.item, torch.Tensor.tolist)


class _MetaAutocast:
    """``torch.autocast(device_type="meta")`` as a no-op context while gradlint runs a model on the
    meta device. A forward that pins its precision with ``torch.autocast(device_type=x.device.type,
    enabled=False)`` (the rotary embeddings of transformers < 5.4) otherwise fails there: torch
    has no autocast state for meta and raises (``unsupported scalarType``). A disabled autocast
    changes nothing, and an enabled one only dtypes, which meta tensors carry but no rule reads
    from values, so skipping it keeps the structure.

    torch's autocast class is patched only while some thread is inside :meth:`scope` (counted, so
    nested and concurrent scopes install it once and the last one out restores torch exactly), and
    the patch acts only for device_type "meta" in a thread inside a scope: every other autocast,
    and this one in any other thread, runs torch's own code. Patching the class (not the name
    ``torch.autocast``) also covers ``from torch import autocast`` and its subclasses.
    """

    _lock = threading.Lock()
    _users = 0
    _originals: dict[str, Any] = {}
    _local = threading.local()

    @classmethod
    @contextlib.contextmanager
    def scope(cls) -> Iterator[None]:
        with cls._lock:
            if cls._users == 0:
                cls._install()
            cls._users += 1
        cls._local.depth = getattr(cls._local, "depth", 0) + 1
        try:
            yield
        finally:
            cls._local.depth -= 1
            with cls._lock:
                cls._users -= 1
                if cls._users == 0:
                    cls._uninstall()

    @classmethod
    def _active(cls) -> bool:
        return getattr(cls._local, "depth", 0) > 0

    @classmethod
    def _install(cls) -> None:
        autocast = torch.amp.autocast_mode.autocast
        original_init, original_enter, original_exit = autocast.__init__, autocast.__enter__, autocast.__exit__
        cls._originals = {name: autocast.__dict__[name] for name in ("__init__", "__enter__", "__exit__")}

        def __init__(self: Any, device_type: Any, *args: Any, **kwargs: Any) -> None:
            if device_type == "meta" and cls._active():
                self.device, self._gradlint_noop = "meta", True
                self.fast_dtype = kwargs.get("dtype", args[0] if args else None)
                self._enabled, self._cache_enabled = False, False
                return
            original_init(self, device_type, *args, **kwargs)

        def __enter__(self: Any) -> Any:
            if getattr(self, "_gradlint_noop", False):
                return self
            return original_enter(self)

        def __exit__(self: Any, *exc: Any) -> Any:
            if getattr(self, "_gradlint_noop", False):
                return False
            return original_exit(self, *exc)

        for function in (__init__, __enter__, __exit__):
            setattr(autocast, function.__name__, function)

    @classmethod
    def _uninstall(cls) -> None:
        autocast = torch.amp.autocast_mode.autocast
        for name, original in cls._originals.items():
            setattr(autocast, name, original)
        cls._originals = {}


def on_meta_device(model: torch.nn.Module) -> bool:
    return any(p.is_meta for p in model.parameters())


def trace(model: torch.nn.Module, inputs: dict[str, Any] | None) -> TraceResult:
    """Trace ``model``; ``inputs`` maps forward's parameter names to example values (or None).

    With inputs, tracing starts from a generated entry point whose parameters are exactly the
    tensor inputs (``def _gradlint_forward(self, input_ids, attention_mask)``) and which passes
    the other inputs as constants: decorated ``forward(*args, **kwargs)`` signatures, as in
    Hugging Face models, then trace like any other (measured: transformers 5.x wraps ``forward`` in
    such decorators, which is the most frequent reason plain fx fails on its models).
    Raises TraceError when not even the top-level module can be traced.
    """
    opaque: dict[str, str] = {}
    leaf_functions: set[Callable[..., Any]] = set()
    was_training = model.training
    model.eval()  # trace what the model computes, not what dropout happens to sample
    original_class = type(model)
    meta = on_meta_device(model)
    tensor_inputs = None
    if inputs is not None:
        tensor_inputs = {k: v for k, v in inputs.items() if _is_tensor_input(v)}
        model.__class__ = _with_entry_point(original_class, model, inputs)
    # what a forward keeps on its modules (the classic Transformer LM's ``self.src_mask = mask``)
    # would hold a tracing proxy afterwards: every module's own attributes are put back after
    # each attempt, so a retry and the probe see the model as it was
    attributes = [(m, dict(m.__dict__)) for m in model.modules()]
    imported = _imported_library_functions(model)
    try:
        for _ in range(_MAX_OPAQUE_RETRIES):
            _restore_attributes(attributes)
            tracer = GradlintTracer(tensor_inputs, set(opaque))
            if inputs is not None:
                tracer.traced_func_name = _ENTRY
            try:
                with _ProxyMasks(tracer), \
                        _MetaDecisions(tracer.specializations) if meta else contextlib.nullcontext(), \
                        _MetaAutocast.scope() if meta else contextlib.nullcontext(), \
                        _TracedFactories(tracer) if inputs is not None else contextlib.nullcontext(), \
                        _LibraryFunctions(tracer, imported, leaf_functions):
                    graph = tracer.trace(model)
            except Exception as exc:  # noqa: BLE001 - any tracer failure falls back to a leaf
                if tracer.failed_function is not None and tracer.failed_function not in leaf_functions:
                    leaf_functions.add(tracer.failed_function)
                    continue
                if isinstance(exc, _ConcreteError):
                    raise TraceError(str(exc), forward_failed=True) from None
                failed = tracer.failed_module
                if not failed or failed in opaque:
                    raise TraceError(f"{type(exc).__name__}: {_one_line(exc)}") from None
                opaque[failed] = _one_line(exc)
                continue
            model.__class__ = original_class
            graph_module = fx.GraphModule(model, graph, class_name=original_class.__name__)
            tensors = {n: v for n, v in tracer.values.items() if isinstance(v, torch.Tensor)}
            return TraceResult(
                graph_module=graph_module,
                tracer="value-guided fx" if tracer.guided else "symbolic fx",
                opaque=opaque,
                specializations=tracer.specializations,
                shapes={node.name: tuple(value.shape) for node, value in tensors.items()},
                floating=frozenset(node.name for node, value in tensors.items() if value.is_floating_point()),
            )
        raise TraceError("too many submodules failed to trace")
    finally:
        _restore_attributes(attributes)
        model.__class__ = original_class
        model.train(was_training)


def _imported_library_functions(model: torch.nn.Module) -> list[tuple[Any, str, Any]]:
    """(owner, name, function) for each Python function of an installed library (einops'
    ``rearrange``, torch's ``pack_padded_sequence``) that the project's modules defining the
    model's classes import by name (the owner: that module's globals) or that their classes call
    through a module (``nn.utils.rnn.pack_padded_sequence``: the owner, that library module):
    candidates for one graph node each when tracing through them fails. Functions that hand a
    traced value to ``__torch_function__`` themselves (``F.relu``) trace as one node already."""
    found: list[tuple[Any, str, Any]] = []
    seen: set[int] = set()
    classes = {klass for m in model.modules() for klass in type(m).__mro__}
    for cls in classes:
        module = sys.modules.get(cls.__module__)
        path = getattr(module, "__file__", None) or ""
        if module is None or not path or _library_code(path):
            continue
        namespace = vars(module)
        if id(module) not in seen:
            seen.add(id(module))
            found += [(namespace, name, value) for name, value in list(namespace.items()) if _library_function(value)]
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError, SyntaxError):
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            chain, root = [], node.func
            while isinstance(root, ast.Attribute):
                chain.append(root.attr)
                root = root.value
            if not isinstance(root, ast.Name) or not isinstance(namespace.get(root.id), types.ModuleType):
                continue
            owner: Any = namespace[root.id]
            for attribute in reversed(chain[1:]):
                owner = getattr(owner, attribute, None)
            function = getattr(owner, chain[0], None)
            if isinstance(owner, types.ModuleType) and _library_function(function) and \
                    not any(o is owner and n == chain[0] for o, n, _ in found):
                found.append((owner, chain[0], function))
    return found


def _library_function(value: Any) -> bool:
    code = getattr(value, "__code__", None)
    return (inspect.isfunction(value) and code is not None and _library_code(code.co_filename)
            and "handle_torch_function" not in code.co_names and not code.co_filename.startswith(GRADLINT_DIR))


class _LibraryFunctions:
    """While tracing, a library function the project imports by name (einops' ``rearrange``,
    ``repeat``), called with a traced value, is traced through like the project's own code; if
    that fails inside it (a library that checks ``isinstance(x, torch.Tensor)`` before it
    dispatches), the trace is retried with that function as one graph node computed on the example
    values, as ``torch.fx.wrap`` would make it, instead of the whole calling module becoming opaque.
    The names are put back afterwards; a call without a traced value, or from another thread's
    tensors, runs the function itself."""

    def __init__(self, tracer: GradlintTracer, imported: list[tuple[dict[str, Any], str, Any]],
                 leaves: set[Callable[..., Any]]) -> None:
        self.tracer, self.imported, self.leaves = tracer, imported, leaves

    def __enter__(self) -> _LibraryFunctions:
        for owner, name, function in self.imported:
            _set(owner, name, self._wrapped(function))
        return self

    def __exit__(self, *exc: Any) -> None:
        for owner, name, function in reversed(self.imported):
            _set(owner, name, function)

    def _wrapped(self, function: Callable[..., Any]) -> Callable[..., Any]:
        tracer = self.tracer

        def traced(*args: Any, **kwargs: Any) -> Any:
            proxies: list[fx.Proxy] = []
            map_aggregate((args, kwargs), lambda a: proxies.append(a) if isinstance(a, fx.Proxy) else None)
            if tracer._computing or not any(p.tracer is tracer for p in proxies):
                return function(*args, **kwargs)
            if function in self.leaves:
                return tracer.create_proxy("call_function", function, args, kwargs)
            try:
                return function(*args, **kwargs)
            except Exception:
                if tracer.failed_function is None:
                    tracer.failed_function = function
                raise

        traced.__wrapped__ = function  # type: ignore[attr-defined]
        return traced


def _set(owner: Any, name: str, value: Any) -> None:
    if isinstance(owner, dict):
        owner[name] = value
    else:
        setattr(owner, name, value)


@contextlib.contextmanager
def _ProxyMasks(tracer: GradlintTracer) -> Iterator[None]:
    """The built-in transformer layers (traced through) ask ``F._none_or_dtype(mask)`` with an
    ``isinstance(mask, Tensor)`` test, which a mask built inside forward (a proxy) fails: answered
    from the proxy's example value while tracing, and put back afterwards."""
    original = F._none_or_dtype

    def none_or_dtype(value: Any) -> Any:
        if isinstance(value, fx.Proxy) and value.node in tracer.values:
            example = tracer.values[value.node]
            return example.dtype if isinstance(example, torch.Tensor) else original(example)
        return original(value)

    F._none_or_dtype = none_or_dtype
    try:
        yield
    finally:
        F._none_or_dtype = original


def _restore_attributes(attributes: list[tuple[torch.nn.Module, dict[str, Any]]]) -> None:
    for module, saved in attributes:
        current = module.__dict__
        for name in [n for n in current if n not in saved]:
            del current[name]
        for name, value in saved.items():
            if current.get(name, _MISSING) is not value:
                current[name] = value


_MISSING = object()


_ENTRY = "_gradlint_forward"


def _is_tensor_input(value: Any) -> bool:
    """A tensor, or a batch dict of tensors (``forward(self, batch)``): a graph input (a dict's
    keys are read inside the graph, ``batch["input_ids"]`` a getitem node)."""
    if isinstance(value, dict):
        return bool(value) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    return isinstance(value, torch.Tensor)


def _with_entry_point(cls: type, model: torch.nn.Module, inputs: dict[str, Any]) -> type:
    """A subclass of the model's class with an entry point naming the tensor inputs."""
    parameters = inspect.signature(model.forward).parameters
    tensors = [k for k, v in inputs.items() if _is_tensor_input(v)]
    for name in tensors:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise TraceError(f"input name {name!r} is not a Python identifier")
    positional = [n for n in inputs if n in parameters and parameters[n].kind is parameters[n].POSITIONAL_ONLY]
    call = [n if n in tensors else f"_constants[{n!r}]" for n in positional]
    call += [f"{n}={n}" for n in tensors if n not in positional]
    constants = {k: v for k, v in inputs.items() if k not in tensors}
    call += [f"{k}=_constants[{k!r}]" for k in constants if k not in positional]
    source = (f"def {_ENTRY}(self, {', '.join(tensors)}):\n"
              f"    return self.forward({', '.join(call)})\n")
    namespace: dict[str, Any] = {"_constants": constants}
    exec(compile(source, "<gradlint entry point>", "exec"), namespace)  # noqa: S102 - our own code
    return type(cls.__name__, (cls,), {_ENTRY: namespace[_ENTRY], "__module__": cls.__module__})


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
