#!/usr/bin/env python3
"""Vision fixtures with torchvision's model code.

Writes Tests/Fixtures/vision/:
  mobilenet_v2_chelsea.safetensors   the ImageNet MobileNetV2 (pretrained/mobilenet_v2-b0353104.pth) on scikit-image's
                                     chelsea photo resized to 224×224: input, features at strides 8/16/32, logits
  resnet_small.safetensors           ResNet-50 and ResNet-18 code paths (torchvision's Bottleneck and BasicBlock, the
                                     stem and stage layout of torchvision's ResNet) at base width 4: state dicts
                                     (`r50.*`, `r18.*`), input and C2–C5 outputs in eval mode
  fpn.safetensors                    torchvision.ops.FeaturePyramidNetwork with LastLevelP6P7: weights, inputs, outputs
  swin_small.safetensors             torchvision's Swin code path (embed 8, window 2): weights and the four stage outputs
                                     for a divisible and a padded input size
  parameter_counts.json              full-size torchvision resnet18/50 (without fc) and mobilenet_v2 (without
                                     classifier) parameter counts and key lists
"""
import json
import pathlib
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from torchvision_shim import torchvision  # noqa: E402
from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1  # noqa: E402
from torchvision.models.swin_transformer import SwinTransformer  # noqa: E402
from torchvision.ops import FeaturePyramidNetwork  # noqa: E402
from torchvision.ops.feature_pyramid_network import LastLevelP6P7  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "vision"
MEAN, STD = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def mobilenet():
    model = torchvision.models.mobilenet_v2()
    model.load_state_dict(torch.load(ROOT / "pretrained" / "mobilenet_v2-b0353104.pth", weights_only=True))
    model.eval()
    pixels = np.array(Image.open(ROOT / "Tests" / "Fixtures" / "images" / "chelsea.png").convert("RGB"))
    image = torch.from_numpy(pixels).permute(2, 0, 1).float().unsqueeze(0) / 255
    image = F.interpolate(image, size=(224, 224), mode="bilinear", align_corners=False)
    x = (image - MEAN) / STD
    with torch.no_grad():
        outputs = {"level_8": model.features[:7](x), "level_16": model.features[:14](x),
                   "level_32": model.features(x), "logits": model(x)}
    save_file({k: v.contiguous() for k, v in outputs.items()}, str(OUT / "mobilenet_v2_chelsea.safetensors"))
    print("mobilenet top-1:", int(outputs["logits"].argmax()))


class SmallResNet(torch.nn.Module):
    """torchvision's ResNet with a configurable base width (torchvision fixes it at 64)."""

    def __init__(self, block, layers, base):
        super().__init__()
        self.inplanes = base
        self.conv1 = torch.nn.Conv2d(3, base, 7, 2, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(base)
        self.relu = torch.nn.ReLU(inplace=True)
        self.maxpool = torch.nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, base, layers[0])
        self.layer2 = self._make_layer(block, base * 2, layers[1], 2)
        self.layer3 = self._make_layer(block, base * 4, layers[2], 2)
        self.layer4 = self._make_layer(block, base * 8, layers[3], 2)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = torch.nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                             torch.nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return torch.nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outputs = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            outputs.append(x)
        return outputs


def randomise_batch_norm(model, generator):
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0, 0.1, generator=generator)
                module.running_mean.normal_(0, 0.1, generator=generator)
                module.running_var.uniform_(0.5, 1.5, generator=generator)


def resnets():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    tensors = {"input": torch.randn(1, 3, 48, 48, generator=generator)}
    for name, block, layers in [("r50", Bottleneck, [3, 4, 6, 3]), ("r18", BasicBlock, [2, 2, 2, 2])]:
        model = SmallResNet(block, layers, 4)
        randomise_batch_norm(model, generator)
        model.eval()
        for key, value in model.state_dict().items():
            tensors[f"{name}.{key}"] = value.float().clone()
        with torch.no_grad():
            for level, output in zip(range(2, 6), model(tensors["input"])):
                tensors[f"{name}_out.c{level}"] = output
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT / "resnet_small.safetensors"))


def fpn():
    torch.manual_seed(2)
    model = FeaturePyramidNetwork([8, 16, 32], 16, extra_blocks=LastLevelP6P7(16, 16)).eval()
    inputs = {"c3": torch.randn(1, 8, 16, 12), "c4": torch.randn(1, 16, 8, 6), "c5": torch.randn(1, 32, 4, 3)}
    with torch.no_grad():
        outputs = model(dict(inputs))
    tensors = {f"weight.{k}": v.clone() for k, v in model.state_dict().items()}
    tensors.update({f"input.{k}": v for k, v in inputs.items()})
    tensors.update({f"output.{index}": v for index, v in enumerate(outputs.values())})
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT / "fpn.safetensors"))


def swin():
    """torchvision's Swin code path at reduced width (window 2), on a divisible and a padded input size."""
    torch.manual_seed(3)
    model = SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4],
                            window_size=[2, 2], stochastic_depth_prob=0.0).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "relative_position_bias_table" in name:
                parameter.normal_(0, 0.5)
    tensors = {f"weight.{k}": v.clone() for k, v in model.state_dict().items() if not k.startswith("head.")}
    for name, size in [("square", (128, 128)), ("padded", (72, 88))]:
        x = torch.randn(1, 3, *size)
        tensors[f"{name}.input"] = x
        with torch.no_grad():
            hidden = model.features[0](x)
            for stage in range(4):
                hidden = model.features[2 * stage + 1](hidden)
                tensors[f"{name}.stage{stage}"] = hidden.permute(0, 3, 1, 2).clone()
                if stage < 3:
                    hidden = model.features[2 * stage + 2](hidden)
    save_file({k: v.contiguous().float() for k, v in tensors.items()}, str(OUT / "swin_small.safetensors"))


def counts():
    result = {}
    for name, model, head in [("resnet18", torchvision.models.resnet18(), "fc."),
                              ("resnet50", torchvision.models.resnet50(), "fc."),
                              ("mobilenet_v2", torchvision.models.mobilenet_v2(), "classifier.")]:
        keys = [{"key": k, "shape": list(v.shape)} for k, v in model.state_dict().items()
                if not k.startswith(head) and not k.endswith("num_batches_tracked")]
        parameters = sum(p.numel() for n, p in model.named_parameters() if not n.startswith(head))
        result[name] = {"parameters": parameters, "keys": keys}
    swin_t = torchvision.models.swin_t()
    result["swin_t"] = {"parameters": sum(p.numel() for n, p in swin_t.named_parameters()
                                          if not n.startswith("head.") and not n.startswith("norm.")), "keys": []}
    (OUT / "parameter_counts.json").write_text(json.dumps(result, indent=0))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    mobilenet()
    resnets()
    fpn()
    swin()
    counts()


if __name__ == "__main__":
    main()
