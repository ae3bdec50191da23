"""Reference fixture for FedMM's MobileNetV3Encoder.

Builds torchvision's mobilenet_v3_small / _large at a reduced width, gives every BatchNorm
random affine parameters and running statistics (so loading them matters), and saves, per
variant: the features state dict (safetensors; small also as torch.save .pth) and a fixed input with the
eval-mode pooled output (avgpool after features, flattened).

Usage: python3 mobilenet_fixture.py OUT_FOLDER
"""
import os
import sys

import torch
import torchvision

from safetensors_writer import save_file

WIDTH = 0.25
INPUT_SHAPE = (2, 3, 64, 64)


def build(variant, seed):
    torch.manual_seed(seed)
    model = getattr(torchvision.models, variant)(width_mult=WIDTH)
    with torch.no_grad():
        for module in model.features.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
                module.num_batches_tracked.fill_(7)
    return model.eval()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for seed, variant in enumerate(["mobilenet_v3_small", "mobilenet_v3_large"]):
        model = build(variant, seed)
        state = {"features." + k: v for k, v in model.features.state_dict().items()}
        torch.manual_seed(100 + seed)
        images = torch.randn(*INPUT_SHAPE)
        with torch.no_grad():
            pooled = torch.flatten(model.avgpool(model.features(images)), 1)
        name = f"{variant.replace('mobilenet_v3_', 'mobilenet_')}_w025"
        save_file(state, os.path.join(out, name + ".safetensors"))
        if variant == "mobilenet_v3_small":  # one .pth is enough to cover the torch.save reader
            torch.save(state, os.path.join(out, name + ".pth"))
        save_file({"input": images, "output": pooled}, os.path.join(out, name + "_io.safetensors"))
        print(variant, "tensors", len(state), "parameters", sum(p.numel() for p in model.features.parameters()), "features", pooled.shape[1])


if __name__ == "__main__":
    main()
