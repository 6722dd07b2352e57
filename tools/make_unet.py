#!/usr/bin/python3
"""Build the classic 24-convolution (Keras-style) U-Net in PyTorch and export it to ONNX.

Layout, with base width B and one input channel:
  encoder  4 levels of widths B, 2B, 4B, 8B:
           Conv3x3(pad 1)+ReLU, Conv3x3(pad 1)+ReLU, [Dropout(0.5) on level 4], MaxPool2x2
  bottom   Conv3x3 16B + ReLU twice, Dropout(0.5)
  decoder  4 levels: Upsample x2 (nearest), ZeroPad2d((0,1,0,1)), Conv2x2 (no pad) + ReLU
           halving the width, concat([skip, up]), Conv3x3+ReLU twice
  head     Conv3x3 -> 2 channels + ReLU, Conv1x1 -> 1 channel + Sigmoid

The ZeroPad2d((0,1,0,1)) reproduces Keras' padding='same' for an even (2x2) kernel, which pads
only bottom/right by one. Dropout is the identity in eval mode and does not reach the ONNX graph.

Writes DIR/model.onnx and, unless --no-reference, DIR/input.npy (float32 uniform [0,1)) and
DIR/expected.npy (PyTorch's float32 output), all NCHW. Reruns with the same arguments write
identical files.

Use Debian's interpreter: /usr/bin/python3 tools/make_unet.py --width 4 --height 64 --width-px 64 --out DIR
"""

import argparse
import collections
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn

EXPECTED_CONVS = 24


def conv3(cin, cout):
    return nn.Conv2d(cin, cout, kernel_size=3, padding=1)


class Level(nn.Module):
    """Two Conv3x3+ReLU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = conv3(cin, cout)
        self.conv2 = conv3(cout, cout)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.conv1(x))))


class Up(nn.Module):
    """Keras UpSampling2D + Conv2D(2x2, padding='same') + ReLU, then concat + two Conv3x3+ReLU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.pad = nn.ZeroPad2d((0, 1, 0, 1))  # (left, right, top, bottom)
        self.conv_up = nn.Conv2d(cin, cout, kernel_size=2)
        self.relu = nn.ReLU()
        self.level = Level(2 * cout, cout)

    def forward(self, x, skip):
        up = self.relu(self.conv_up(self.pad(self.upsample(x))))
        return self.level(torch.cat([skip, up], dim=1))


class UNet(nn.Module):
    def __init__(self, base, in_channels=1):
        super().__init__()
        b = base
        self.enc1 = Level(in_channels, b)
        self.enc2 = Level(b, 2 * b)
        self.enc3 = Level(2 * b, 4 * b)
        self.enc4 = Level(4 * b, 8 * b)
        self.drop4 = nn.Dropout(0.5)
        self.pool = nn.MaxPool2d(2)
        self.bottom = Level(8 * b, 16 * b)
        self.drop5 = nn.Dropout(0.5)
        self.up6 = Up(16 * b, 8 * b)
        self.up7 = Up(8 * b, 4 * b)
        self.up8 = Up(4 * b, 2 * b)
        self.up9 = Up(2 * b, b)
        self.head_conv = conv3(b, 2)
        self.head_relu = nn.ReLU()
        self.out_conv = nn.Conv2d(2, 1, kernel_size=1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        c1 = self.enc1(x)
        c2 = self.enc2(self.pool(c1))
        c3 = self.enc3(self.pool(c2))
        c4 = self.drop4(self.enc4(self.pool(c3)))
        c5 = self.drop5(self.bottom(self.pool(c4)))
        u = self.up6(c5, c4)
        u = self.up7(u, c3)
        u = self.up8(u, c2)
        u = self.up9(u, c1)
        return self.sigmoid(self.out_conv(self.head_relu(self.head_conv(u))))


def init_weights(model, calib_input, logit_std=2.0):
    """He-normal weights, then a one-pass data-dependent rescale of every conv.

    PyTorch's default init (kaiming_uniform, a=sqrt(5)) shrinks activations ~1/sqrt(3) per layer,
    so after 24 layers the sigmoid output is 0.5 to many digits, useless as a numerical test;
    plain He-normal still leaves most of the 2-channel head dead (96% zeros at B=8) and the
    logits tiny. So, in one forward pass over the (seeded) calibration input, each conv's
    weights and bias are rescaled per output channel so its output has mean 0 and std 1 on that
    input (std `logit_std` for the final 1x1 conv, giving sigmoid outputs spread over roughly
    0.1..0.9). Biases end up non-zero. Deterministic for a given seed and input shape.
    """
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for m in convs:
        nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        nn.init.uniform_(m.bias, -0.05, 0.05)

    def hook(mod, inputs, out):
        target = logit_std if mod is model.out_conv else 1.0
        mean = out.mean(dim=(0, 2, 3))
        std = out.std(dim=(0, 2, 3))
        scale = torch.where(std > 1e-6, target / std.clamp_min(1e-6), torch.ones_like(std))
        mod.weight.mul_(scale.view(-1, 1, 1, 1))
        mod.bias.copy_((mod.bias - mean) * scale)
        return (out - mean.view(1, -1, 1, 1)) * scale.view(1, -1, 1, 1)

    handles = [m.register_forward_hook(hook) for m in convs]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(calib_input)
    for h in handles:
        h.remove()
    model.train(was_training)
    return convs


def count_convs(model):
    return sum(1 for m in model.modules() if isinstance(m, nn.Conv2d))


def build_seeded_unet(base, seed, calib_shape):
    """The U-Net of base width `base` with exactly the weights main() gives it for `seed`.

    Returns (model in eval mode, calibration input as a float32 numpy array of `calib_shape`).
    The weights depend on the seed AND on the calibration input's shape (see init_weights), so
    pass the (batch, 1, height, width) that main() was given to reproduce its model.onnx.
    Importable, e.g. by bench/peers/, so other runtimes can be fed the very same network.
    Leaves torch.use_deterministic_algorithms(True) set, as main() does.
    """
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)

    rng = np.random.default_rng(seed)
    x = rng.random(tuple(calib_shape), dtype=np.float32)

    model = UNet(base)
    init_weights(model, torch.from_numpy(x))
    n_convs = count_convs(model)
    assert n_convs == EXPECTED_CONVS, f"expected {EXPECTED_CONVS} convolutions, built {n_convs}"
    model.eval()
    return model, x


def export_onnx(model, example_input, onnx_path, opset=13):
    """torch.onnx.export with the settings main() uses (static shape of `example_input`)."""
    with warnings.catch_warnings():
        # torch 1.13 warns that it cannot fold the step -1 Slice in F.pad's export, and about
        # prim::Constant shape inference; both are expected (see fold_constants).
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(
            model, example_input, onnx_path,
            export_params=True, opset_version=opset, do_constant_folding=True,
            input_names=["input"], output_names=["output"],
        )


def fold_constants(model_proto):
    """Fold the constant-only subgraphs torch leaves behind, in place; return how many nodes went.

    torch 1.13 cannot fold the Slice with step -1 that F.pad's export uses to reorder the pads,
    so each Pad's `pads` input hangs off a Constant/ConstantOfShape/Concat/Reshape/Slice/
    Transpose/Reshape/Cast chain. This evaluates such chains with numpy and turns the results
    (and every remaining Constant) into initializers, leaving a graph of only Conv, Relu,
    MaxPool, Resize, Pad, Concat and Sigmoid. Only the ops below are handled.
    """
    from onnx import helper, numpy_helper

    g = model_proto.graph
    known = {}  # name -> np.ndarray, only for small constant values produced by Constant chains

    def attr(n, name, default=None):
        for a in n.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def slice_(data, starts, ends, axes=None, steps=None):
        axes = list(range(len(starts))) if axes is None else [int(a) % data.ndim for a in axes]
        steps = [1] * len(starts) if steps is None else steps
        idx = [slice(None)] * data.ndim
        for st, en, ax, sp in zip(starts, ends, axes, steps):
            dim = data.shape[ax]
            st, en, sp = int(st), int(en), int(sp)
            # ONNX clamps out-of-range ends; Python slicing does too, except that a huge negative
            # end with a negative step must mean "through index 0", i.e. None.
            if sp < 0 and en < -dim:
                en = None
            idx[ax] = slice(st, en, sp)
        return data[tuple(idx)]

    def evaluate(n, ins):
        op = n.op_type
        if op == "Constant":
            return numpy_helper.to_array(attr(n, "value"))
        if op == "ConstantOfShape":
            v = attr(n, "value")
            v = numpy_helper.to_array(v) if v is not None else np.zeros(1, np.float32)
            return np.full(tuple(int(d) for d in ins[0]), v.reshape(-1)[0], dtype=v.dtype)
        if op == "Concat":
            return np.concatenate(ins, axis=attr(n, "axis"))
        if op == "Reshape":
            shape = [int(d) for d in ins[1]]
            shape = [ins[0].shape[i] if d == 0 else d for i, d in enumerate(shape)]
            return ins[0].reshape(shape)
        if op == "Slice":
            return slice_(*ins)
        if op == "Transpose":
            return np.transpose(ins[0], attr(n, "perm"))
        if op == "Cast":
            from onnx.mapping import TENSOR_TYPE_TO_NP_TYPE
            return ins[0].astype(TENSOR_TYPE_TO_NP_TYPE[attr(n, "to")])
        if op in ("Unsqueeze", "Squeeze") and len(ins) == 2:
            axes = tuple(int(a) for a in ins[1])
            return np.expand_dims(ins[0], axes) if op == "Unsqueeze" else np.squeeze(ins[0], axes)
        return None

    kept, folded = [], 0
    for n in g.node:
        inputs = [i for i in n.input]
        if all(i == "" or i in known for i in inputs) and len(n.output) == 1:
            # Optional inputs left empty are passed as None (only Slice has any here).
            ins = [known[i] if i else None for i in inputs]
            while ins and ins[-1] is None:
                ins.pop()
            value = evaluate(n, ins)
            if value is not None:
                known[n.output[0]] = np.asarray(value)
                folded += 1
                continue
        kept.append(n)
    used = {i for n in kept for i in n.input} | {o.name for o in g.output}
    del g.node[:]
    g.node.extend(kept)
    for name, value in known.items():
        if name in used:
            g.initializer.append(numpy_helper.from_array(value, name))
    return folded


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=int, required=True, help="base channel width B")
    p.add_argument("--height", type=int, required=True, help="input height in pixels")
    p.add_argument("--width-px", type=int, required=True, help="input width in pixels")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--opset", type=int, default=13)
    p.add_argument("--no-reference", action="store_true", help="write only model.onnx")
    p.add_argument("--fold-constants", action="store_true",
                   help="fold the constant pads subgraphs and Constant nodes into initializers "
                        "(default: keep torch's export as is)")
    a = p.parse_args(argv)
    if a.height % 16 or a.width_px % 16:
        p.error("height and width must be multiples of 16 (four 2x2 poolings)")
    if a.width < 1 or a.batch < 1:
        p.error("width and batch must be positive")
    return a


def describe_graph(path):
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    g = m.graph
    counts = collections.Counter(n.op_type for n in g.node)
    print("onnx ops: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
    inits = {i.name: i for i in g.initializer}
    folded_copy = onnx.ModelProto()
    folded_copy.CopyFrom(m)
    fold_constants(folded_copy)
    folded_inits = {i.name: i for i in folded_copy.graph.initializer}
    consts = {}
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    consts[n.output[0]] = numpy_helper.to_array(a.t)

    def source(name):
        if name == "":
            return "(absent)"
        if name in inits:
            return f"initializer {numpy_helper.to_array(inits[name]).tolist()}"
        if name in consts:
            return f"Constant {consts[name].tolist()}"
        producer = next((n for n in g.node if name in n.output), None)
        text = f"computed by {producer.op_type if producer else '?'}"
        if name in folded_inits:
            text += f" from constants only, = {numpy_helper.to_array(folded_inits[name]).tolist()}"
        return text

    shown = set()
    for n in g.node:
        if n.op_type in ("Pad", "Resize", "Upsample") and n.op_type not in shown:
            shown.add(n.op_type)
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
            print(f"first {n.op_type} '{n.name}': attrs={attrs}")
            for i, name in enumerate(n.input):
                print(f"  input[{i}] {name!r}: {source(name) if i else 'data'}")
    return m


def main(argv=None):
    a = parse_args(argv if argv is not None else sys.argv[1:])
    model, x = build_seeded_unet(a.width, a.seed, (a.batch, 1, a.height, a.width_px))
    xt = torch.from_numpy(x)
    n_convs = count_convs(model)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"unet B={a.width} input {a.batch}x1x{a.height}x{a.width_px}: {n_convs} convs, {n_params} params")

    with torch.no_grad():
        y = model(xt).numpy().astype(np.float32)
    assert y.shape == (a.batch, 1, a.height, a.width_px), y.shape
    frac_mid = float(np.mean((y > 0.05) & (y < 0.95)))
    print(f"output: min {y.min():.4f} max {y.max():.4f} mean {y.mean():.4f} std {y.std():.4f} "
          f"fraction in (0.05,0.95) {frac_mid:.3f}")
    if y.std() < 1e-3:
        print("warning: output nearly constant", file=sys.stderr)
    if frac_mid < 0.2:
        print("warning: output mostly saturated", file=sys.stderr)

    os.makedirs(a.out, exist_ok=True)
    onnx_path = os.path.join(a.out, "model.onnx")
    export_onnx(model, xt, onnx_path, a.opset)
    if a.fold_constants:
        import onnx
        m = onnx.load(onnx_path)
        n = fold_constants(m)
        onnx.checker.check_model(m)
        onnx.save(m, onnx_path)
        print(f"folded {n} constant nodes")
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes)")
    describe_graph(onnx_path)

    if not a.no_reference:
        np.save(os.path.join(a.out, "input.npy"), x)
        np.save(os.path.join(a.out, "expected.npy"), y)
        print(f"wrote {a.out}/input.npy and {a.out}/expected.npy")


if __name__ == "__main__":
    main()
