"""Writes tiny-conv.onnx: Conv(1x1, 3->2 channels, known weights) + Relu on a 1x3x4x4 input.

Regenerate (needs the `onnx` package from PyPI):  python make_model.py
With input channel c filled with c+1, every output value is known exactly:
  channel 0 = 1*1 + 0.25 = 1.25;  channel 1 = 0.5*2 + 0.5*3 - 1.0 = 1.5
"""

import onnx
from onnx import TensorProto, helper

weights = helper.make_tensor("W", TensorProto.FLOAT, [2, 3, 1, 1], [1.0, 0.0, 0.0, 0.0, 0.5, 0.5])
bias = helper.make_tensor("B", TensorProto.FLOAT, [2], [0.25, -1.0])
graph = helper.make_graph(
    [helper.make_node("Conv", ["x", "W", "B"], ["c"], kernel_shape=[1, 1]),
     helper.make_node("Relu", ["c"], ["y"])],
    "tiny-conv",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])],
    initializer=[weights, bias],
)
model = helper.make_model(graph, producer_name="edgeforge", opset_imports=[helper.make_opsetid("", 11)])
model.ir_version = 6
onnx.checker.check_model(model)
onnx.save(model, "tiny-conv.onnx")
print("wrote tiny-conv.onnx")
