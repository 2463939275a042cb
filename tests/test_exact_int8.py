"""The CLIP encoder's integer matmuls are exact on every CPU (sleuth.detect.backbone.exact_int8)."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")


def _matmul_integer_model(b: np.ndarray, b_zero: int):
    from onnx import TensorProto, helper, numpy_helper

    a = helper.make_tensor_value_info("a", TensorProto.UINT8, [None, b.shape[0]])
    y = helper.make_tensor_value_info("y", TensorProto.INT32, [None, b.shape[1]])
    inits = [numpy_helper.from_array(b.astype(np.int8), "b"),
             numpy_helper.from_array(np.array(0, np.uint8), "a0"),
             numpy_helper.from_array(np.array(b_zero, np.int8), "b0")]
    node = helper.make_node("MatMulInteger", ["a", "b", "a0", "b0"], ["y"])
    graph = helper.make_graph([node], "g", [a], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _run(model, a):
    from sleuth.util import cpu_session

    return cpu_session(model.SerializeToString(), 1).run(None, {"a": a})[0]


def test_rewritten_matmul_integer_is_exact():
    from sleuth.detect.backbone import exact_int8

    rng = np.random.default_rng(0)
    # large activations times large weights: the pairwise 16-bit sums a saturating kernel would clip
    a = rng.integers(200, 256, size=(4, 64)).astype(np.uint8)
    b = rng.choice(np.array([-128, -127, 126, 127]), size=(64, 8)).astype(np.int8)
    exact = (a.astype(np.int64) @ (b.astype(np.int64) - 3)).astype(np.int32)
    model, n = exact_int8(_matmul_integer_model(b, 3))
    assert n == 2  # the weights and their zero point
    assert np.array_equal(_run(model, a), exact)


def test_clip_encoder_uses_no_int8_weights_after_the_rewrite():
    from sleuth.detect.backbone import clip_model
    from sleuth.models import ModelNotFoundError, resolve

    try:
        path = str(resolve("clip-vit-b16"))
    except ModelNotFoundError:
        pytest.skip("CLIP carrier not installed")
    m = clip_model(path)
    inits = {t.name: t.data_type for t in m.graph.initializer}
    weights = [n.input[1] for n in m.graph.node if n.op_type == "MatMulInteger" and n.input[1] in inits]
    assert weights and all(inits[w] == onnx.TensorProto.UINT8 for w in weights)
