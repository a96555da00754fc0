#!/usr/bin/env python3
"""Train edge-infer's pedestrian detector and write it as ONNX.

Data: frames of OpenCV's samples/data/vtest.avi (from the pinned, sha256-verified OpenCV source
archive in edgeforge's source mirror), labelled by OpenCV's HOG people detector (the classical
backend of the app). The network is a small fully-convolutional single-shot detector:

    input  "images" 1x3x192x256, RGB, (pixel - 127.5) / 64
    conv 3->16  3x3 s2, ReLU        (128x96)
    conv 16->32 3x3 s2, ReLU        (64x48)
    conv 32->32 3x3 s2, ReLU        (32x24)
    conv 32->32 3x3 s1 dilation 2, ReLU   receptive field 47 px
    conv 32->5  1x1                 output "grid" 1x5x24x32, stride 8

Per cell: objectness logit, x/y offsets in the cell (sigmoid), log(w/8), log(h/8).
Training is plain numpy (im2col convolutions, Adam), deterministic for a given seed.

Usage: python train_detector.py --video vtest.avi --out pedestrian-grid.onnx
(`invoke model` runs it with the sample taken from the source mirror).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

IN_W, IN_H, STRIDE = 256, 192, 8
GRID_W, GRID_H = IN_W // STRIDE, IN_H // STRIDE
MEAN, SCALE = 127.5, 1 / 64.0
LAYERS = [  # cin, cout, k, stride, pad, dilation, relu
    (3, 16, 3, 2, 1, 1, True),
    (16, 32, 3, 2, 1, 1, True),
    (32, 32, 3, 2, 1, 1, True),
    (32, 32, 3, 1, 2, 2, True),
    (32, 5, 1, 1, 0, 1, False),
]


# ---------------------------------------------------------------- data
def hog_labels(video: Path, step: int, limit: int):
    import cv2
    cv2.setNumThreads(1)
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        sys.exit(f"cannot open {video}")
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    frames, labels, idx = [], [], 0
    while len(frames) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        if idx % step == 0:
            rects, weights = hog.detectMultiScale(frame, winStride=(8, 8), padding=(8, 8),
                                                  scale=1.05, hitThreshold=0.0)
            boxes = [[int(x), int(y), int(w), int(h)] for (x, y, w, h), s
                     in zip(rects, np.ravel(weights)) if s > 0.5]
            small = cv2.resize(frame, (IN_W, IN_H), interpolation=cv2.INTER_LINEAR)
            frames.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
            labels.append({"frame": idx, "boxes": boxes})
        idx += 1
    sx, sy = IN_W / frame.shape[1], IN_H / frame.shape[0]
    return np.stack(frames), labels, (sx, sy)


def targets(labels, sx, sy, flip=False):
    """Per image: obj (H,W), box (4,H,W) targets and a positive mask."""
    n = len(labels)
    obj = np.zeros((n, GRID_H, GRID_W), np.float32)
    box = np.zeros((n, 4, GRID_H, GRID_W), np.float32)
    area = np.zeros((n, GRID_H, GRID_W), np.float32)
    for i, lab in enumerate(labels):
        for x, y, w, h in lab["boxes"]:
            cx, cy, bw, bh = (x + w / 2) * sx, (y + h / 2) * sy, w * sx, h * sy
            if flip:
                cx = IN_W - cx
            gx, gy = int(cx // STRIDE), int(cy // STRIDE)
            if not (0 <= gx < GRID_W and 0 <= gy < GRID_H) or area[i, gy, gx] > bw * bh:
                continue
            area[i, gy, gx] = bw * bh
            obj[i, gy, gx] = 1
            box[i, :, gy, gx] = (cx / STRIDE - gx, cy / STRIDE - gy,
                                 math.log(bw / STRIDE), math.log(bh / STRIDE))
    return obj, box


# ---------------------------------------------------------------- network
class Conv:
    def __init__(self, rng, cin, cout, k, stride, pad, dil, relu):
        fan_in = cin * k * k
        self.w = (rng.standard_normal((cout, cin, k, k)) * math.sqrt(2 / fan_in)).astype(np.float32)
        self.b = np.zeros(cout, np.float32)
        self.k, self.s, self.p, self.d, self.relu = k, stride, pad, dil, relu
        self.m = [np.zeros_like(self.w), np.zeros_like(self.b)]
        self.v = [np.zeros_like(self.w), np.zeros_like(self.b)]

    def out_hw(self, h, w):
        ke = self.d * (self.k - 1) + 1
        return (h + 2 * self.p - ke) // self.s + 1, (w + 2 * self.p - ke) // self.s + 1

    def forward(self, x):
        n, c, h, w = x.shape
        ho, wo = self.out_hw(h, w)
        xp = np.pad(x, ((0, 0), (0, 0), (self.p, self.p), (self.p, self.p)))
        cols = np.empty((n, ho, wo, c, self.k, self.k), np.float32)
        for i in range(self.k):
            for j in range(self.k):
                sl = xp[:, :, i * self.d: i * self.d + self.s * ho: self.s,
                        j * self.d: j * self.d + self.s * wo: self.s]
                cols[..., i, j] = sl.transpose(0, 2, 3, 1)
        cols = cols.reshape(n * ho * wo, -1)
        y = cols @ self.w.reshape(self.w.shape[0], -1).T + self.b
        y = y.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)
        if self.relu:
            y = np.maximum(y, 0)
        self.cache = (x.shape, cols, y)
        return np.ascontiguousarray(y)

    def backward(self, dy):
        (n, c, h, w), cols, y = self.cache
        if self.relu:
            dy = dy * (y > 0)
        cout, ho, wo = dy.shape[1], dy.shape[2], dy.shape[3]
        dyf = dy.transpose(0, 2, 3, 1).reshape(-1, cout)
        self.gw = (dyf.T @ cols).reshape(self.w.shape)
        self.gb = dyf.sum(0)
        dcols = (dyf @ self.w.reshape(cout, -1)).reshape(n, ho, wo, c, self.k, self.k)
        dxp = np.zeros((n, c, h + 2 * self.p, w + 2 * self.p), np.float32)
        for i in range(self.k):
            for j in range(self.k):
                dxp[:, :, i * self.d: i * self.d + self.s * ho: self.s,
                    j * self.d: j * self.d + self.s * wo: self.s] += dcols[..., i, j].transpose(0, 3, 1, 2)
        return dxp[:, :, self.p: self.p + h, self.p: self.p + w]

    def adam(self, lr, t, b1=0.9, b2=0.999, eps=1e-8, wd=1e-4):
        for idx, (param, grad) in enumerate(((self.w, self.gw + wd * self.w), (self.b, self.gb))):
            self.m[idx] = b1 * self.m[idx] + (1 - b1) * grad
            self.v[idx] = b2 * self.v[idx] + (1 - b2) * grad * grad
            mh = self.m[idx] / (1 - b1 ** t)
            vh = self.v[idx] / (1 - b2 ** t)
            param -= (lr * mh / (np.sqrt(vh) + eps)).astype(np.float32)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def loss_and_grad(out, obj, box, pos_weight=4.0):
    n = out.shape[0]
    logit = out[:, 0]
    p = sigmoid(logit)
    wts = np.where(obj > 0, pos_weight, 1.0)
    cells = obj.size
    bce = -(wts * (obj * np.log(p + 1e-7) + (1 - obj) * np.log(1 - p + 1e-7))).sum() / cells
    g = np.zeros_like(out)
    g[:, 0] = wts * (p - obj) / cells
    pos = obj > 0
    npos = max(pos.sum(), 1)
    sxy = sigmoid(out[:, 1:3])
    d_xy = (sxy - box[:, 0:2]) * pos[:, None]
    d_wh = (out[:, 3:5] - box[:, 2:4]) * pos[:, None]
    lbox = ((d_xy ** 2).sum() + (d_wh ** 2).sum()) / npos
    g[:, 1:3] = 2 * d_xy * sxy * (1 - sxy) / npos
    g[:, 3:5] = 2 * d_wh / npos
    return bce + lbox, g.astype(np.float32) / 1.0 * n / n


def preprocess(rgb):
    return ((rgb.astype(np.float32) - MEAN) * SCALE).transpose(0, 3, 1, 2).copy()


def decode(out, thr):
    """grid output of one image -> [(x, y, w, h, score)] at network input scale."""
    dets = []
    p = sigmoid(out[0])
    for gy, gx in zip(*np.nonzero(p > thr)):
        cx = (gx + sigmoid(out[1, gy, gx])) * STRIDE
        cy = (gy + sigmoid(out[2, gy, gx])) * STRIDE
        w, h = math.exp(out[3, gy, gx]) * STRIDE, math.exp(out[4, gy, gx]) * STRIDE
        dets.append((cx - w / 2, cy - h / 2, w, h, float(p[gy, gx])))
    return nms(dets, 0.45)


def iou(a, b):
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-9)


def nms(dets, thr):
    keep = []
    for d in sorted(dets, key=lambda d: -d[4]):
        if all(iou(d, k) <= thr for k in keep):
            keep.append(d)
    return keep


def evaluate(net, frames, labels, sx, sy, thr=0.5):
    tp = fp = fn = 0
    for img, lab in zip(frames, labels):
        out = forward(net, preprocess(img[None]))[0]
        dets = decode(out, thr)
        gts = [(x * sx, y * sy, w * sx, h * sy) for x, y, w, h in lab["boxes"]]
        used = set()
        for d in dets:
            best = max(range(len(gts)), key=lambda i: iou(d, gts[i]), default=None)
            if best is not None and best not in used and iou(d, gts[best]) >= 0.5:
                used.add(best)
                tp += 1
            else:
                fp += 1
        fn += len(gts) - len(used)
    return {"precision": round(tp / max(tp + fp, 1), 3), "recall": round(tp / max(tp + fn, 1), 3),
            "true_positives": tp, "false_positives": fp, "missed": fn}


def forward(net, x):
    for layer in net:
        x = layer.forward(x)
    return x


# ---------------------------------------------------------------- ONNX
def export(net, path: Path, meta: dict):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    prev = "images"
    for i, layer in enumerate(net):
        wn, bn = f"conv{i}.weight", f"conv{i}.bias"
        inits += [numpy_helper.from_array(layer.w, wn), numpy_helper.from_array(layer.b, bn)]
        out = "grid" if i == len(net) - 1 else f"conv{i}"
        nodes.append(helper.make_node(
            "Conv", [prev, wn, bn], [out], name=f"conv{i}", kernel_shape=[layer.k, layer.k],
            strides=[layer.s, layer.s], pads=[layer.p] * 4, dilations=[layer.d, layer.d]))
        if layer.relu:
            nodes.append(helper.make_node("Relu", [out], [out + ".relu"], name=f"relu{i}"))
            out += ".relu"
        prev = out
    graph = helper.make_graph(
        nodes, "pedestrian-grid",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, IN_H, IN_W])],
        [helper.make_tensor_value_info("grid", TensorProto.FLOAT, [1, 5, GRID_H, GRID_W])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)],
                              producer_name="edge-infer/train_detector.py")
    model.ir_version = 6
    for k, v in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=str(v)))
    onnx.checker.check_model(model)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(model.SerializeToString())
    tmp.replace(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--labels-out", type=Path, help="write the HOG labels as JSON")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--step", type=int, default=3, help="use every Nth frame")
    ap.add_argument("--frames", type=int, default=265)
    ap.add_argument("--seed", type=int, default=20261123)
    args = ap.parse_args()

    t0 = time.monotonic()
    frames, labels, (sx, sy) = hog_labels(args.video, args.step, args.frames)
    print(f"labelled {len(frames)} frames with HOG in {time.monotonic() - t0:.0f} s "
          f"({sum(len(lab['boxes']) for lab in labels)} boxes)", flush=True)
    if args.labels_out:
        args.labels_out.write_text(json.dumps({"video": args.video.name, "labeller": "OpenCV HOG "
                                               "default people detector, weight > 0.5",
                                               "frames": labels}, indent=1) + "\n")
    n_train = int(len(frames) * 0.8)
    rng = np.random.default_rng(args.seed)
    net = [Conv(rng, *spec) for spec in LAYERS]
    net[-1].b[0] = -4.0  # start with "nothing here"
    x_all = preprocess(frames[:n_train])
    x_flip = x_all[:, :, :, ::-1].copy()
    obj, box = targets(labels[:n_train], sx, sy)
    objf, boxf = targets(labels[:n_train], sx, sy, flip=True)
    boxf[:, 0] = np.where(objf > 0, boxf[:, 0], 0)
    xs = np.concatenate([x_all, x_flip])
    objs = np.concatenate([obj, objf])
    boxes = np.concatenate([box, boxf])
    step, batch = 0, 16
    for epoch in range(args.epochs):
        order = rng.permutation(len(xs))
        lr = 3e-3 * 0.5 * (1 + math.cos(math.pi * epoch / args.epochs))
        total = 0.0
        for s in range(0, len(order), batch):
            idx = order[s: s + batch]
            out = forward(net, xs[idx])
            loss, g = loss_and_grad(out, objs[idx], boxes[idx])
            total += loss * len(idx)
            for layer in reversed(net):
                g = layer.backward(g)
            step += 1
            for layer in net:
                layer.adam(lr, step)
        if epoch % 5 == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch:3d} loss {total / len(xs):.4f} ({time.monotonic() - t0:.0f} s)",
                  flush=True)
    held = evaluate(net, frames[n_train:], labels[n_train:], sx, sy)
    train = evaluate(net, frames[:n_train], labels[:n_train], sx, sy)
    print(f"held-out frames vs HOG labels (IoU >= 0.5, score >= 0.5): {held}")
    print(f"training frames: {train}")
    meta = {"input": f"1x3x{IN_H}x{IN_W} RGB (p-{MEAN})*{SCALE}", "stride": STRIDE,
            "classes": "person", "trained_on": args.video.name, "seed": args.seed,
            "epochs": args.epochs, "heldout": json.dumps(held)}
    export(net, args.out, meta)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
