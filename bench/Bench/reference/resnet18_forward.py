"""PyTorch reference for the resnet18 benchmark: a frozen forward pass (eval, no_grad) of
torchvision's ResNet with BasicBlocks (the package network's --blocks per stage, no fc) on the
weights FedMM converted from the package's ONNX, from ImageNet-normalised RGB images as a site
holds them: back to 0..255, RGB to BGR, less the mean image resized to the images' size, then the
network to the pooled features. The runner writes the weights, "mean_image" [3, 224, 224] and
"images" [B, 3, H, W] to one safetensors file. Fastest of --steps after warm-up.

Usage: resnet18_forward.py FILE.safetensors --blocks 2,2,2,3 [--steps 5] [--warmup 2] [--threads N]
Prints "checksum=X" (sum of the pooled features, for the runner to check the work is the same),
"median=S" and "seconds=S" (fastest).
"""
import argparse
import statistics
import time

import torch
import torchvision
from torch.nn import functional as F

from safetensors_f32 import read_safetensors

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--blocks", required=True)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    tensors = read_safetensors(args.file)
    images = tensors.pop("images")
    mean_image = tensors.pop("mean_image")
    blocks = [int(b) for b in args.blocks.split(",")]
    model = torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, blocks)
    model.fc = torch.nn.Identity()
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    assert not unexpected, unexpected
    assert all(name.endswith("num_batches_tracked") for name in missing), missing
    model.eval()
    scale = torch.tensor([s * 255 for s in IMAGENET_STD]).view(1, 3, 1, 1)
    offset = torch.tensor([m * 255 for m in IMAGENET_MEAN]).view(1, 3, 1, 1)

    # Resized once, as FedMM's encoder keeps one resized mean image per input size.
    mean = F.interpolate(mean_image.unsqueeze(0), size=images.shape[2:], mode="bilinear", align_corners=False, antialias=True)

    def forward(x):
        return model((x * scale + offset).flip(1) - mean)

    with torch.no_grad():
        for _ in range(args.warmup):
            features = forward(images)
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            features = forward(images)
            times.append(time.perf_counter() - start)
    print(f"checksum={features.double().sum().item():.6f}")
    print(f"median={statistics.median(times):.6f}")
    print(f"seconds={min(times):.6f}")


if __name__ == "__main__":
    main()
