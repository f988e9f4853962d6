"""The emitters of ``cnnmath.onnx.save``: for each layer class, the function that appends its
ONNX nodes to the graph being written (``_Writer``), one module per family: ``conv``
(convolutions, Linear), ``pool`` (pooling, unpooling), ``norm``, ``activations``, ``pad``,
``shapes`` (reshapes, copies, wiring), ``resize`` (resampling), ``roi`` (regions of
interest), ``as_read`` (ops of ``cnnmath.onnx.load`` written back as read, com.microsoft's
quantized ops included) and ``quantized`` (DynamicQuantizeLinear's scale and zero point).
The layer → ONNX mapping they implement is the table in ``cnnmath.onnx.save``'s module
docstring.

An emitter is called as ``emit(w, node, shapes, out)`` (``_Emit``): the writer, the walked
node, its inputs' traced shapes and its output's; it writes the node's output under the
node's output name. ``_emitter(node)`` picks the one for a node."""

from __future__ import annotations

from ... import nn
from ...models.convnext import LayerScale
from ...models.googlenet import TransformInput
from ...models.resnet import ShortcutA
from ...ops import activations as _act
from .._ops import _ConstOutput, _OnWeights, _Op
from .._ops.control import _If, _Loop
from .._ops.norm import _RunningStatistic
from .._ops.qlinear import _DynamicQuantize
from .._ops.shapes import _SplitPart
from .._outputs import _DropoutMask, _LayerNormStatistic
from ._writer import _Emit
from .activations import (
    _celu,
    _gelu,
    _glu,
    _hardtanh,
    _logsigmoid,
    _mish,
    _prelu,
    _relu6,
    _shrink,
    _silu,
    _simple,
    _softmax,
    _softmin,
    _softplus,
    _tanhshrink,
    _threshold,
)
from .as_read import (
    _as_read,
    _const_output,
    _dropout_mask,
    _layer_norm_statistic,
    _on_weights,
    _running_statistic,
    _split_part,
)
from .control import _if, _loop
from .conv import _conv, _conv3d, _conv_transpose, _deform_conv, _linear
from .norm import (
    _batch_norm,
    _group_norm,
    _instance_norm,
    _layer_norm,
    _layer_scale,
    _local_response_norm,
    _rms_norm,
    _transform_input,
)
from .pad import _pad, _pad1d, _pad3d
from .pool import (
    _adaptive_pool,
    _adaptive_pool1d,
    _adaptive_pool3d,
    _avg_pool,
    _lp_pool,
    _max_pool,
    _max_unpool,
    _pool1d,
    _pool3d,
)
from .quantized import _dynamic_quantize_part
from .resize import _affine_grid, _grid_sample, _resize_like, _upsample
from .roi import _roi_align, _roi_pool
from .shapes import (
    _add,
    _channel_shuffle,
    _concat,
    _flatten,
    _fold,
    _identity,
    _mul,
    _narrow,
    _permute,
    _pixel_shuffle,
    _pixel_unshuffle,
    _shortcut_a,
    _unflatten,
    _unfold,
)

_EMITTERS: dict[type, _Emit] = {
    nn.Conv2d: _conv,
    nn.DeformConv2d: _deform_conv,
    nn.Conv1d: _conv,
    nn.MaxPool1d: _pool1d,
    nn.AvgPool1d: _pool1d,
    nn.AdaptiveAvgPool1d: _adaptive_pool1d,
    nn.AdaptiveMaxPool1d: _adaptive_pool1d,
    nn.ConvTranspose2d: _conv_transpose,
    nn.Linear: _linear,
    nn.BatchNorm1d: _batch_norm,
    nn.BatchNorm2d: _batch_norm,
    nn.BatchNorm3d: _batch_norm,
    nn.Conv3d: _conv3d,
    nn.ConvTranspose3d: _conv_transpose,
    nn.MaxPool3d: _pool3d,
    nn.AvgPool3d: _pool3d,
    nn.AdaptiveAvgPool3d: _adaptive_pool3d,
    nn.AdaptiveMaxPool3d: _adaptive_pool3d,
    nn.Dropout3d: _identity,
    nn.LayerNorm: _layer_norm,
    nn.LayerNorm2d: _layer_norm,
    nn.RMSNorm: _rms_norm,
    nn.Permute: _permute,
    LayerScale: _layer_scale,
    TransformInput: _transform_input,
    nn.LocalResponseNorm: _local_response_norm,
    nn.InstanceNorm2d: _instance_norm,
    nn.PixelShuffle: _pixel_shuffle,
    nn.PixelUnshuffle: _pixel_unshuffle,
    nn.Unfold: _unfold,
    nn.ChannelShuffle: _channel_shuffle,
    nn.Unflatten: _unflatten,
    nn.Pad1d: _pad1d,
    nn.ConvTranspose1d: _conv_transpose,
    nn.InstanceNorm1d: _instance_norm,
    nn.InstanceNorm3d: _instance_norm,
    nn.Pad3d: _pad3d,
    nn.Softmax2d: _softmax,
    nn.Softmin: _softmin,
    nn.Threshold: _threshold,
    nn.Tanhshrink: _tanhshrink,
    nn.Hardshrink: _shrink,
    nn.Softshrink: _shrink,
    nn.Fold: _fold,
    nn.GroupNorm: _group_norm,
    nn.MaxPool2d: _max_pool,
    nn.MaxUnpool1d: _max_unpool,
    nn.MaxUnpool2d: _max_unpool,
    nn.MaxUnpool3d: _max_unpool,
    nn.AvgPool2d: _avg_pool,
    nn.LPPool1d: _lp_pool,
    nn.LPPool2d: _lp_pool,
    nn.LPPool3d: _lp_pool,
    nn.AdaptiveAvgPool2d: _adaptive_pool,
    nn.AdaptiveMaxPool2d: _adaptive_pool,
    nn.Flatten: _flatten,
    nn.Upsample: _upsample,
    nn.ZeroPad2d: _pad,
    nn.ConstantPad2d: _pad,
    nn.ReflectionPad2d: _pad,
    nn.ReplicationPad2d: _pad,
    nn.CircularPad2d: _pad,
    nn.Pad2d: _pad,
    nn.Add: _add,
    nn.Concat: _concat,
    nn.Mul: _mul,
    nn.Narrow: _narrow,
    nn.GridSample: _grid_sample,
    nn.RoIAlign: _roi_align,
    nn.RoIPool: _roi_pool,
    nn.AffineGrid: _affine_grid,
    nn.ResizeLike: _resize_like,
    nn.Dropout: _identity,  # eval mode
    nn.Dropout2d: _identity,
    nn.StochasticDepth: _identity,
    nn.AlphaDropout: _identity,  # eval mode, as Dropout
    nn.FeatureAlphaDropout: _identity,
    nn.Softmax: _softmax,
    nn.LogSoftmax: _softmax,
    nn.Hardtanh: _hardtanh,
    nn.LogSigmoid: _logsigmoid,
    nn.Identity: _identity,
    ShortcutA: _shortcut_a,
    nn.ReLU: _simple("Relu"),
    nn.Sigmoid: _simple("Sigmoid"),
    nn.Tanh: _simple("Tanh"),
    nn.Softsign: _simple("Softsign"),
    nn.LeakyReLU: _simple("LeakyRelu", alpha=lambda m: m.negative_slope),
    # eval mode: leaky_relu with the middle slope, as torch.onnx writes it
    nn.RReLU: _simple("LeakyRelu", alpha=lambda m: (float(m.lower) + float(m.upper)) / 2),
    nn.ELU: _simple("Elu", alpha=lambda m: m.alpha),
    nn.CELU: _celu,
    nn.SELU: _simple("Selu", alpha=_act.SELU_ALPHA, gamma=_act.SELU_SCALE),
    nn.Hardsigmoid: _simple("HardSigmoid", alpha=1.0 / 6.0, beta=0.5),
    nn.Hardswish: _simple("HardSwish"),
    nn.ReLU6: _relu6,
    nn.PReLU: _prelu,
    nn.Softplus: _softplus,
    nn.SiLU: _silu,
    nn.Mish: _mish,
    nn.GLU: _glu,
    nn.GELU: _gelu,
}


def _emitter(node: nn.Node) -> _Emit:
    """The emitter of the node's class: its own, or a layer class's it derives from without
    changing the computation (same ``forward_ctx``); an op of ``cnnmath.onnx.load`` that is
    one ONNX node as read (``_as_read``); otherwise a ValueError naming it."""
    module = node.module
    cls = type(module)
    if isinstance(module, _Op) and module.onnx_attributes is not None:
        return _as_read
    if isinstance(module, _ConstOutput):
        return _const_output
    if isinstance(module, _OnWeights):
        return _on_weights
    if isinstance(module, _LayerNormStatistic):
        return _layer_norm_statistic
    if isinstance(module, _DropoutMask):
        return _dropout_mask
    if isinstance(module, _RunningStatistic):
        return _running_statistic
    if isinstance(module, _SplitPart):
        return _split_part
    if isinstance(module, _DynamicQuantize):  # y_scale, y_zero_point on their own
        return _dynamic_quantize_part
    if module.hand_written:
        raise ValueError(
            f"save: model: node {node.name!r} is a hand-written module ({cls.__name__}, with its "
            "own forward/backward), whose computation ONNX export cannot see; build it from "
            "cnnmath's layers: write it as an nn.Graph subclass that assigns its layers in "
            "__init__ as before and wires them with self.add(layer, *input_names) (nn.Add() "
            "for a residual sum, nn.Concat(1) for torch.cat) and self.set_output(name), as "
            'docs/porting.md\'s section "A model class of your own" shows'
        )
    if isinstance(module, _If):
        return _if
    if isinstance(module, _Loop):
        return _loop
    for base in cls.__mro__:
        if base in _EMITTERS:
            if base is cls or cls.forward_ctx is base.forward_ctx:  # type: ignore[attr-defined]
                return _EMITTERS[base]
            break
    if hasattr(module, "_lazy"):  # a lazy module not yet run (cnnmath.nn.lazy)
        raise ValueError(
            f"save: model: node {node.name!r} ({cls.__name__}) has not run yet: run one "
            "forward pass first (a lazy module infers its input size), then save"
        )
    supported = ", ".join(sorted(c.__name__ for c in _EMITTERS))
    raise ValueError(
        f"save: model: node {node.name!r} ({cls.__name__}) has no ONNX export; supported "
        f"layers: {supported}"
    )
