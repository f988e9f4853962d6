"""ONNX's own backend node tests (``onnx.backend.test``), run through ``cnnmath.onnx.load``.

Every node test whose nodes are all op types cnnmath imports is run at that test's own
tolerances (rtol, atol) and must give the expected output with the expected dtype. The ones
that need what cnnmath does not support are listed below with the reason; the test asserts
that the failures are exactly these, and that each is a refusal at load time (a ValueError
naming the node, op type and attribute, or the graph input) — never a wrong number and never
an error while running. The expected outputs are ONNX's (computed by its reference code), an
independent witness. ConstantOfShape, Range and Cast (between the types cnnmath holds) run at
run time too, so their node tests, which feed them run-time inputs, run here; with
ConstantOfShape so do the expanded LayerNormalization and Attention functions.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

pytest.importorskip("onnx")

from cnnmath.onnx import load  # noqa: E402
from cnnmath.onnx._ops import CONVERTERS  # noqa: E402

_INTS = ("int8", "int16", "uint8", "uint16", "uint32", "uint64")
# The node tests of random ops compare exact values drawn by ONNX's reference generator, which
# no other implementation reproduces (cnnmath draws from NumPy's PCG64): they load and run,
# and fail by value, not by a refusal. The outcomes fixture seeds their generators, so that
# this failure is the same at every run (unseeded, a chance match is about 0.6 % per test).
_RANDOM_DRAWS = tuple(
    f"test_bernoulli{case}{expanded}"
    for case in ("", "_double", "_seed")
    for expanded in ("", "_expanded")
)

EXCEPTIONS: dict[str, str] = {
    # element types: cnnmath computes in float32/float64 (int32/int64 only for shapes)
    **{
        f"test_{op}_{t}": f"element type {t} is not supported"
        for op in ("add", "sub", "mul", "div", "max", "min")
        for t in _INTS
    },
    "test_max_float16": "element type float16 is not supported",
    "test_min_float16": "element type float16 is not supported",
    "test_celu_bfloat16": "element type bfloat16 is not supported",
    "test_celu_float16": "element type float16 is not supported",
    "test_celu_float16_expanded": "element type float16 is not supported",
    "test_celu_bfloat16_expanded": "element type bfloat16 is not supported",
    "test_isinf_float16": "element type float16 is not supported",
    "test_isnan_float16": "element type float16 is not supported",
    "test_swiglu_float16_expanded": "element type float16 is not supported",
    "test_flexattention_fp16_expanded_ver26": "element type float16 is not supported",
    "test_clip_default_int8_inbounds": "element type int8 is not supported",
    "test_clip_default_int8_inbounds_expanded": "element type int8 is not supported",
    "test_clip_default_int8_max": "element type int8 is not supported",
    "test_clip_default_int8_min": "element type int8 is not supported",
    **{
        f"test_{op}_{t}": f"element type {t} is not supported"
        for op in (
            "equal",
            "greater",
            "greater_equal",
            "less",
            "less_equal",
        )
        for t in _INTS
    },
    **{  # ≥ and ≤ written as Or(Greater, Equal)
        f"test_{op}_{t}_expanded": f"element type {t} is not supported"
        for op in ("greater_equal", "less_equal")
        for t in _INTS
    },
    "test_pow_types_float32_uint32": "element type uint32 is not supported",
    "test_pow_types_float32_uint64": "element type uint64 is not supported",
    "test_equal_string": "element type string is not supported",
    "test_equal_string_broadcast": "element type string is not supported",
    "test_clip_default_int8_min_expanded": "element type int8 is not supported",
    "test_clip_default_int8_max_expanded": "element type int8 is not supported",
    "test_roialign_mode_max": "RoiAlign's mode 'max' (onnxruntime's max over weighted corner "
    "values) is refused by name",
    "test_training_dropout": "Dropout's ratio computed at run time; training-mode Dropout is not",
    "test_training_dropout_default": "Dropout's ratio computed at run time",
    "test_training_dropout_zero_ratio": "Dropout's ratio computed at run time",
    **{
        f"test_col2im{case}": "Col2Im's image and block shapes given at run time (constants only)"
        for case in ("", "_strides", "_pads", "_dilations", "_5d")
    },
    **{
        f"test_affine_grid_{case}": "AffineGrid's size given at run time (a constant or the "
        "Shape of a value only)"
        for case in ("2d", "2d_align_corners", "3d", "3d_align_corners")
    },
    "test_if_seq": "If whose branches return sequences (SequenceConstruct is not supported)",
    "test_if_opt": "If whose branches return optionals (Optional is not supported)",
    "test_loop13_seq": "Loop carrying a sequence (sequence-typed values are not supported)",
    "test_loop16_seq_none": "Loop carrying an optional sequence (optionals are not supported)",
    "test_range_float16_type_positive_delta_expanded": "element type float16 is not supported",
    "test_range_bfloat16_type_positive_delta_expanded": "element type bfloat16 is not supported",
    **{
        f"test_gridsample_volumetric_{mode}_align_corners_{a}": "volumetric (3-D) sampling"
        for mode in ("bilinear", "nearest")
        for a in (0, 1)
    },
    "test_shrink_hard": "an opset 9 model (the loader reads opsets 11 on)",
    "test_shrink_soft": "an opset 9 model (the loader reads opsets 11 on)",
    "test_identity_opt": "optional-typed inputs are not supported (tensors only)",
    "test_identity_sequence": "sequence-typed inputs are not supported (tensors only)",
    # 3-D average pooling with dilations: AvgPool3d has none (as torch.nn's)
    **{
        f"test_averagepool_3d_dilations_{case}": "a dilated 3-D average pooling"
        for case in (
            "small",
            *(
                f"large_count_include_pad_is_{i}_ceil_mode_is_{c}"
                for i in (0, 1)
                for c in ("False", "True")
            ),
        )
    },
    "test_convtranspose_1d": "1-D transposed convolution of a weight given at run time",
    **{
        f"test_causal_conv_with_state_{case}_expanded": "1-D convolution of a run-time weight"
        for case in (
            "decode_step",
            "with_bias_and_past_state",
            "with_past_state",
            "silu_with_past_state",
        )
    },
    "test_convtranspose_3d": "3-D transposed convolution of a weight given at run time",
    # Dropout's mask loads (all True in inference); these feed the ratio at run time
    "test_dropout_default_mask_ratio": "Dropout's ratio computed at run time",
    "test_training_dropout_default_mask": "Dropout's ratio computed at run time",
    "test_training_dropout_mask": "Dropout's ratio computed at run time",
    "test_training_dropout_zero_ratio_mask": "Dropout's ratio computed at run time",
    # attributes and inputs
    "test_dropout_default_ratio": "Dropout's ratio computed at run time (needed for training)",
    "test_constant": "a graph without inputs (nothing to run)",
    # Resize: modes "nearest", "linear" and "cubic" (antialiased too)
    **{
        f"test_resize_{case}": "Resize's 'tf_crop_and_resize' (its roi and extrapolation)"
        for case in (
            "tf_crop_and_resize",
            "tf_crop_and_resize_extrapolation_value",
            "tf_crop_and_resize_axes_2_3",
            "tf_crop_and_resize_axes_3_2",
        )
    },
    **{  # each rerun at opset 13 in test_logical_node_tests_at_a_newer_opset
        name: "a model of opset 1 or 7 (the loader reads opsets 11 on)"
        for name in (
            *(f"test_not_{r}d" for r in (2, 3, 4)),
            *(
                f"test_{op}{case}"
                for op in ("and", "or", "xor")
                for case in (
                    "2d",
                    "3d",
                    "4d",
                    "_bcast3v1d",
                    "_bcast3v2d",
                    "_bcast4v2d",
                    "_bcast4v3d",
                    "_bcast4v4d",
                )
            ),
        )
    },
    "test_resize_downsample_scales_linear_half_pixel_symmetric": "'half_pixel_symmetric'",
    "test_resize_upsample_scales_linear_half_pixel_symmetric": "'half_pixel_symmetric'",
    # quantization: int8, uint8, int16 and uint16 only
    **{
        f"test_{op}_{t}": f"quantized type {t} is not supported"
        for op, types in (
            (
                "dequantizelinear",
                ("e4m3fn", "e4m3fn_float16", "e4m3fn_zero_point", "e5m2", "float4e2m1"),
            ),
            ("quantizelinear", ("e4m3fn", "e5m2", "float4e2m1")),
        )
        for t in types
    },
    **{
        f"test_{op}_{t}": f"quantized type {t} is not supported"
        for op in ("dequantizelinear", "quantizelinear")
        for t in ("uint4", "int4", "uint2", "int2")
    },
    **{
        f"test_dynamicquantizelinear{case}_expanded": "a Cast to uint8 (DynamicQuantizeLinear's "
        "zero point computed at run time)"
        for case in ("", "_max_adjusted", "_min_adjusted")
    },
    **{  # each rerun at opset 11 in test_quantized_node_tests_at_a_newer_opset
        f"test_{case}": "a model of opset 10 (the loader reads opsets 11 on)"
        for case in (
            "qlinearconv",
            "matmulinteger",
            "convinteger_with_padding",
            "convinteger_without_padding",
        )
    },
    **{  # the scales a graph input of type float16
        f"test_qlinearmatmul_{case}_float16": "element type float16 is not supported"
        for case in ("2D_uint8", "3D_uint8", "2D_int8", "3D_int8")
    },
    **{
        f"test_mod_{case}": "element type float16 is not supported"
        for case in (
            "mixed_sign_float16",
            "float16_mixed_sign_fmod_0",
            "float_edge_cases_fmod_0_float16",
        )
    },
    **{
        f"test_mod_{case}": f"element type {case.split('_')[-1]} is not supported"
        for case in (
            "mixed_sign_int16",
            "mixed_sign_int8",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
        )
    },
    "test_range_float16_type_positive_delta": "element type float16 is not supported",
    "test_range_bfloat16_type_positive_delta": "element type bfloat16 is not supported",
    "test_top_k_uint64": "element type uint64 is not supported",
    **{
        f"test_einsum_{case}_bfloat16": "element type bfloat16 is not supported"
        for case in ("batch_matmul", "sum", "transpose")
    },
    **{
        f"test_attention_{case}_expanded": "element type float16 is not supported"
        for case in ("4d_causal_fp16", "4d_fp16", "4d_gqa_causal_nonpad_decode_fp16")
    },
    **{
        f"test_attention_{case}_expanded": "element type bfloat16 is not supported"
        for case in ("3d_causal_bf16", "4d_causal_bf16")
    },
    **{
        f"test_causal_conv_with_state_{case}_expanded": "element type float16 is not supported"
        for case in ("fp16", "silu_fp16")
    },
    **{
        f"test_causal_conv_with_state_{case}_expanded": "1-D convolution of a run-time weight"
        for case in (
            "b1_c1_degenerate",
            "basic",
            "kernel_size_one",
            "short_input_no_past_state",
            "silu",
            "swish_alias",
            "with_bias",
        )
    },
    **{
        f"test_attention_{case}_expanded": "element type float16 is not supported"
        for case in (
            "4d_gqa_with_past_and_present_fp16",
            "24_qk_matmul_output_mode3_softmax_precision",
            "local_window_ext_cache_float16_mask",
        )
    },
    **{
        f"test_attention_{case}_expanded": "element type bfloat16 is not supported"
        for case in (
            "4d_padded_kv_bf16",
            "4d_causal_padded_kv_bf16",
            "4d_attn_mask_causal_bf16",
        )
    },
    "test_compress_bfloat16": "element type bfloat16 is not supported",
    "test_onehot_with_bfloat16_values": "element type bfloat16 is not supported",
    "test_reversesequence_bfloat16": "element type bfloat16 is not supported",
    **{
        f"test_bitshift_{way}_{t}{case}": f"element type {t} is not supported"
        for way in ("left", "right")
        for t, cases in (
            ("uint8", ("",)),
            ("uint16", ("",)),
            ("uint32", ("",)),
            ("uint64", ("",)),
            ("int16", ("",)),
            ("int8", ("", "_shift_ge_width", "_negative_shift")),
        )
        for case in cases
    },
    "test_bitshift_right_int8_negative_input": "element type int8 is not supported",
    "test_bitshift_left_int8_overflow": "element type int8 is not supported",
    **{
        f"test_bitwise_{op}_{case}": f"element type {t} is not supported"
        for op in ("and", "or", "xor")
        for case, t in (
            ("i16_4d" if op == "or" else "i16_3d", "int8" if op == "or" else "int16"),
            ("ui64_bcast_3v1d", "uint64"),
            ("ui8_bcast_4v3d", "uint8"),
        )
    },
    "test_bitwise_not_3d": "element type uint16 is not supported",
    "test_bitwise_not_4d": "element type uint8 is not supported",
    **dict.fromkeys(_RANDOM_DRAWS, "random draws: ONNX's values come from its own generator"),
}


def _arrays(data_set):
    """A node test's (inputs, outputs) as arrays (some tests store raw TensorProtos, and the
    expanded Range ones NumPy scalars)."""
    from onnx import TensorProto, numpy_helper

    return tuple(
        [numpy_helper.to_array(a) if isinstance(a, TensorProto) else np.asarray(a) for a in part]
        for part in data_set
    )


@pytest.fixture(scope="module")
def outcomes():
    """{test name: None (passed) or (stage, exception)} for every node test of supported ops."""
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    supported = set(CONVERTERS) | {"Constant"}
    results = {}
    for case in cases:
        if case.model is None or not {n.op_type for n in case.model.graph.node} <= supported:
            continue
        try:
            graph = load(case.model.SerializeToString())
        except Exception as err:
            results[case.name] = ("load", err)
            continue
        results[case.name] = None
        for _, rng in graph.named_generators():  # random ops: a fixed draw (_RANDOM_DRAWS)
            rng.bit_generator.state = np.random.PCG64(0).state
        for inputs, outputs in map(_arrays, case.data_sets):
            try:
                got = graph(*inputs)
            except Exception as err:
                results[case.name] = ("run", err)
                break
            several = len(case.model.graph.output) > 1  # then the graph returns a tuple
            try:
                gots = got if several else (got,)
                assert isinstance(gots, tuple) and len(gots) == len(outputs), type(got)
                for value, expected in zip(gots, outputs):
                    np.testing.assert_allclose(value, expected, rtol=case.rtol, atol=case.atol)
                    assert value.dtype == expected.dtype, (value.dtype, expected.dtype)
            except AssertionError as err:
                results[case.name] = ("compare", err)
                break
    return results


def test_every_supported_op_is_exercised(outcomes):
    ops_run = {name.split("_")[1] for name in outcomes}
    for op in (
        "conv",
        "convtranspose",
        "maxpool",
        "averagepool",
        "globalaveragepool",
        "gemm",
        "matmul",
        "batchnorm",
        "relu",
        "leakyrelu",
        "prelu",
        "sigmoid",
        "hardsigmoid",
        "hardswish",
        "tanh",
        "softplus",
        "softsign",
        "elu",
        "selu",
        "celu",
        "gelu",
        "mish",
        "clip",
        "add",
        "sub",
        "mul",
        "div",
        "pow",
        "lrn",
        "depthtospace",
        "spacetodepth",
        "sqrt",
        "reciprocal",
        "exp",
        "log",
        "neg",
        "flatten",
        "reshape",
        "transpose",
        "concat",
        "reduce",
        "softmax",
        "logsoftmax",
        "dropout",
        "identity",
        "constant",
        "shape",
        "gather",
        "unsqueeze",
        "resize",
        "where",
        "sum",
        "greater",
        "less",
        "equal",
        "instancenorm",
        "gridsample",
        "max",
        "min",
        "mean",
        "expand",
        "tile",
        "split",
        "cast",
        "argmax",
        "argmin",
        "sin",
        "cos",
        "floor",
        "ceil",
        "round",
        "sign",
        "sce",
        "nllloss",
        "basic",  # test_basic_deform_conv_*
        "group",  # test_group_normalization_*
        "quantizelinear",
        "dequantizelinear",
        "qlinearmatmul",
        "dynamicquantizelinear",
        "top",  # test_top_k*
        "tan",
        "asin",
        "acos",
        "atan",
        "sinh",
        "cosh",
        "asinh",
        "acosh",
        "atanh",
        "mod",
        "cumsum",
        "range",
        "lppool",
        "maxunpool",
        "layer",  # test_layer_normalization_*
        "constantofshape",
        "einsum",
        "scatternd",
        "roialign",
        "nonmaxsuppression",
        "scatter",  # test_scatter_elements_*
        "gathernd",
        "nonzero",
        "compress",
        "onehot",
        "triu",
        "tril",
        "eyelike",
        "cumprod",
        "reversesequence",
        "center",  # test_center_crop_pad_*
        "mvn",
        "rms",  # test_rms_normalization_*
        "bitshift",
        "bitwise",
    ):
        assert op in ops_run, op
    for name in (  # run-time ConstantOfShape, Einsum (implicit output, diagonal), ScatterND
        "test_constantofshape_float_ones",
        "test_constantofshape_int_zeros",
        "test_constantofshape_int_shape_zero",
        *(f"test_einsum_{c}" for c in ("batch_diagonal", "inner_prod", "scalar", "sum")),
        *(f"test_einsum_{c}" for c in ("batch_matmul", "transpose")),
        *(f"test_scatternd{c}" for c in ("", "_add", "_multiply", "_max", "_min")),
    ):
        assert outcomes[name] is None, name
    for name in ("test_maxpool_3d_default", "test_averagepool_3d_default"):  # volumes
        assert outcomes[name] is None, name
    for name in (  # nodes of several outputs: LayerNormalization's Mean and InvStdDev,
        # Dropout's mask (inference), MaxPool's Indices
        "test_layer_normalization_4d_axis_negative_2",
        "test_layer_normalization_3d_axis1_epsilon",
        "test_layer_normalization_default_axis",
        "test_dropout_default_mask",
        "test_maxpool_with_argmax_2d_precomputed_pads",
    ):
        assert outcomes[name] is None, name
    assert sum(v is None for v in outcomes.values()) >= 200


# Where ONNX's reference and onnxruntime disagree, cnnmath computes what onnxruntime (and
# PyTorch, whose exports these files are) compute: the test checks that it does.
FOLLOWS_ONNXRUNTIME: dict[str, str] = {
    # 4 pixels resized by 0.6 to 2 (0.8 to 3, cubic) with align_corners: the reference divides by
    # length_resized − 1 with length_resized = 4·0.6 = 2.4 (3.2) unrounded; onnxruntime and
    # PyTorch by the output's 2 − 1
    "test_resize_downsample_scales_linear_align_corners": "align_corners' output length",
    "test_resize_downsample_scales_cubic_align_corners": "align_corners' output length",
    # MaxUnpool with output_shape: the reference scatters into the inferred shape and pads it;
    # onnxruntime (and PyTorch) read the indices as positions in the output itself
    "test_maxunpool_export_with_output_shape": "MaxUnpool's indices in output_shape",
}


_CAST = re.compile(r"test_cast(?:like)?_(?:no_saturate_|e8m0_)?([A-Z0-9]+)_to_([A-Z0-9]+)")


def _cast_refused(name: str) -> bool:
    """The Cast / CastLike node tests between types cnnmath does not hold (float16, bfloat16,
    the float8, float4 and 2- and 4-bit integer types): refused at load, by the graph input's
    element type or by Cast's attribute 'to'. Between FLOAT and DOUBLE they must pass."""
    match = _CAST.match(name)
    return match is not None and not {match[1], match[2]} <= {"FLOAT", "DOUBLE"}


def test_failures_are_exactly_the_documented_refusals(outcomes):
    failed = {
        name: result
        for name, result in outcomes.items()
        if result is not None and name not in FOLLOWS_ONNXRUNTIME
    }
    casts = {name for name in outcomes if _cast_refused(name)}
    assert len(casts) >= 100 and set(EXCEPTIONS).isdisjoint(casts)
    assert sorted(failed) == sorted({*EXCEPTIONS, *casts})
    for name, (stage, err) in failed.items():
        if name in _RANDOM_DRAWS:  # they run; only ONNX's generator gives its values
            assert stage == "compare", f"{name}: failed at {stage}: {err}"
            continue
        assert stage == "load", f"{name}: failed at {stage}: {err}"
        assert isinstance(err, ValueError), f"{name}: {type(err).__name__}: {err}"
        assert str(err).startswith("cnnmath.onnx.load:"), str(err)


def test_logical_node_tests_at_a_newer_opset():
    """ONNX's And, Or, Xor and Not node tests are models of opsets 1 and 7, which the
    loader does not read; the ops are unchanged since, so each runs again declared at
    opset 13 and must give its expected output."""
    from onnx import helper
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = [
            c
            for c in load_model_tests(kind="node")
            if c.model is not None
            and {n.op_type for n in c.model.graph.node} <= {"And", "Or", "Xor", "Not"}
        ]
    checked = 0
    for case in cases:
        model = type(case.model)()
        model.CopyFrom(case.model)
        del model.opset_import[:]
        model.opset_import.append(helper.make_opsetid("", 13))
        graph = load(model.SerializeToString())
        for inputs, outputs in map(_arrays, case.data_sets):
            got = graph(*inputs)
            assert got.dtype == np.bool_
            np.testing.assert_array_equal(got, outputs[0], err_msg=case.name)
            checked += 1
    assert checked >= 27


def test_quantized_node_tests_at_a_newer_opset():
    """ONNX's QLinearConv, ConvInteger and MatMulInteger node tests are models of opset 10,
    which the loader does not read; the ops are unchanged since, so each runs again declared
    at opset 11 and must give its expected output exactly, in its type."""
    from onnx import helper
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = [
            c
            for c in load_model_tests(kind="node")
            if c.model is not None
            and {n.op_type for n in c.model.graph.node}
            <= {"QLinearConv", "ConvInteger", "MatMulInteger"}
        ]
    checked = set()
    for case in cases:
        assert case.model.opset_import[0].version == 10, case.name
        model = type(case.model)()
        model.CopyFrom(case.model)
        del model.opset_import[:]
        model.opset_import.append(helper.make_opsetid("", 11))
        graph = load(model.SerializeToString())
        for inputs, outputs in map(_arrays, case.data_sets):
            got = graph(*inputs)
            assert got.dtype == outputs[0].dtype, case.name
            np.testing.assert_array_equal(got, outputs[0], err_msg=case.name)
            checked.add(case.name)
    assert checked == {
        "test_qlinearconv",
        "test_matmulinteger",
        "test_convinteger_with_padding",
        "test_convinteger_without_padding",
    }


def test_split_node_tests_with_known_sizes():
    """ONNX's Split node tests whose sizes are a graph input: loaded with the sizes given at
    run time, and again with the sizes an initializer — the graph returns every part, each
    the expected one (sizes given, empty parts), both ways."""
    from onnx import numpy_helper
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = [c for c in load_model_tests(kind="node") if c.name.startswith("test_split_")]
    checked = run_time = 0
    for case in cases:
        if case.model.graph.node[-1].op_type != "Split" or len(case.model.graph.input) < 2:
            continue  # SplitToSequence (not supported), or the sizes already known
        for inputs, outputs in case.data_sets:
            model = type(case.model)()
            model.CopyFrom(case.model)
            at_run_time = load(model.SerializeToString())(*inputs)
            for k, (part, expected) in enumerate(zip(at_run_time, outputs)):
                np.testing.assert_array_equal(part, expected, err_msg=f"{case.name} output {k}")
            run_time += 1
            split = numpy_helper.from_array(inputs[1], model.graph.input[1].name)
            model.graph.initializer.append(split)
            del model.graph.input[1:]
            got = load(model.SerializeToString())(inputs[0])
            assert isinstance(got, tuple) and len(got) == len(outputs) >= 2
            for k, (part, expected) in enumerate(zip(got, outputs)):
                np.testing.assert_array_equal(part, expected, err_msg=f"{case.name} output {k}")
                checked += 1
    assert run_time >= 8 and checked >= 18


def test_where_the_reference_and_onnxruntime_differ_cnnmath_gives_onnxruntimes_answer(outcomes):
    ort = pytest.importorskip("onnxruntime")
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = {c.name: c for c in load_model_tests(kind="node") if c.name in FOLLOWS_ONNXRUNTIME}
    assert sorted(cases) == sorted(FOLLOWS_ONNXRUNTIME)
    for name, case in cases.items():
        stage, _ = outcomes[name]
        assert stage == "compare", name  # the reference's number is not cnnmath's
        data = case.model.SerializeToString()
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        graph = load(data)
        for inputs, _ in case.data_sets:
            witness = session.run(None, dict(zip(names, inputs)))[0]
            np.testing.assert_allclose(graph(*inputs), witness, rtol=1e-6, atol=1e-7)


def test_node_tests_written_back_by_save_give_the_expected_outputs(outcomes, tmp_path):
    """Every passing node test of opset 14 or later on float inputs of a batch axis (what
    save's example input is): cnnmath.onnx.save writes the loaded graph back — its ops as
    read, at the file's opset (the default) — and the file, loaded again, gives ONNX's
    expected outputs (save checks it with onnx.checker and ONNX's shape and type inference)."""
    from onnx.backend.test.loader import load_model_tests

    from cnnmath.onnx import save

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = {
            c.name: c for c in load_model_tests(kind="node") if outcomes.get(c.name, 1) is None
        }
    written = 0
    for name, case in sorted(cases.items()):
        opset = {o.domain: o.version for o in case.model.opset_import}.get("")
        inputs, outputs = _arrays(case.data_sets[0])
        floats = {x.dtype for x in inputs if isinstance(x, np.ndarray) and x.ndim >= 2}
        if (
            opset is None
            or opset < 14
            or len(floats) != 1
            or len(inputs) != sum(isinstance(x, np.ndarray) and x.ndim >= 2 for x in inputs)
            or floats - {np.dtype(np.float32), np.dtype(np.float64)}
        ):
            continue
        path = tmp_path / f"{name}.onnx"
        save(load(case.model.SerializeToString()), path, tuple(inputs))
        got = load(path)(*inputs)
        for value, expected in zip(got if isinstance(got, tuple) else (got,), outputs, strict=True):
            np.testing.assert_allclose(
                value, expected, rtol=case.rtol, atol=case.atol, err_msg=name
            )
            assert value.dtype == expected.dtype, name
        written += 1
    assert written >= 190
