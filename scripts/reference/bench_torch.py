#!/usr/bin/env python3
"""Times the `glip bench` cases with PyTorch on this machine (2 threads) and prints one JSON object per case, with
the same fields and case labels as `glip bench --json`.

Usage: python scripts/reference/bench_torch.py [--train] [--repeat N] [--batch B] [--size S] [--tokens T] [CASE ...]

OpenMP waits passively (OMP_WAIT_POLICY=PASSIVE unless set): on a shared machine, spin-waiting threads slow PyTorch
down many times over. Forward cases run under torch.inference_mode() in eval mode; training steps are forward, backward and AdamW, as in
`glip bench --train`. Models have random weights (timing does not depend on them):
  gemm          torch.mm 1024×1024×1024
  conv3x3       conv2d 3×3 256→256 on 1×256×64×64 (train: backward for input and weight)
  resnet50/18   torchvision ResNet body without avgpool/fc (C3–C5 outputs)
  mobilenet_v2  torchvision MobileNetV2 features, outputs at strides 8, 16, 32
  swin_t        torchvision Swin-T features with the output LayerNorms of stages 1–3
  bert_base     HF BertModel, bert-base sizes; minilm: all-MiniLM-L6-v2's sizes
  xmha          one X-MHA fusion block (embed 2048, 8 heads) on the five FPN levels of an 800×1344 image, 256 tokens
  glip_t_b      GLIP-T (B) written out in PyTorch: Swin-T, FPN + P6/P7, BERT-base, six tower blocks of
                [X-MHA fusion, BERT layer, DyConv with modulated deformable convs], box/centerness/alignment outputs
  demo          the demo config's model (MobileNetV2 with frozen BN and stages, FPN 64, frozen MiniLM, two tower
                blocks of [fusion, BERT layer, 3×3 conv + GN + ReLU]); train step: focal, GIoU and centerness losses
The training loss of the backbone cases is the sum over output maps of mean(map²), as in `glip bench`.
"""
import argparse
import json
import os
import pathlib
import resource
import statistics
import sys
import time

# OpenMP threads wait passively: with OpenMP's default spin-waiting, PyTorch ran up to 14× slower on a machine shared
# with other jobs (its threads spin on cores the others need); passive waiting is its best case there. Set before
# torch loads its OpenMP runtime; an explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from torchvision_shim import torchvision  # noqa: E402,F401
from torchvision.models import mobilenet_v2, resnet18, resnet50  # noqa: E402
from torchvision.models.swin_transformer import SwinTransformer  # noqa: E402
from torchvision.ops import FeaturePyramidNetwork  # noqa: E402
from torchvision.ops.feature_pyramid_network import LastLevelP6P7  # noqa: E402
from torchvision.ops.misc import FrozenBatchNorm2d  # noqa: E402

DEFAULTS = {  # name: (trains, forward shape, train shape) with shape = (batch, size, tokens)
    "gemm": (False, (1, 1024, 0), None),
    "conv3x3": (True, (1, 64, 0), (1, 64, 0)),
    "resnet50": (True, (1, 512, 0), (2, 320, 0)),
    "resnet18": (True, (1, 512, 0), (2, 320, 0)),
    "mobilenet_v2": (True, (1, 512, 0), (4, 320, 0)),
    "swin_t": (True, (1, 512, 0), (2, 320, 0)),
    "bert_base": (False, (1, 0, 256), None),
    "minilm": (False, (1, 0, 256), None),
    "glip_t_b": (False, (1, 512, 32), None),
    "xmha": (False, (1, 800, 256), None),
    "glip_t": (False, (1, 800, 256), None),
    "glip_l": (False, (1, 800, 256), None),
    "demo": (True, (4, 160, 16), (4, 160, 16)),
}


OFFICIAL_WIDTH = 1344  # 1333 padded to a multiple of 32, as GLIP's test sizing pads an 800×1333 image


def label(name, train, tokens, size=0, width=None):
    text = name + (" train" if train else "")
    if name in ("glip_t", "glip_l", "xmha"):
        return text + f" {size}×{width or OFFICIAL_WIDTH}, {tokens} tokens"
    return text + (f" {tokens} tokens" if name in ("bert_base", "minilm") else "")


def prompt_ids(batch, tokens):
    ids = torch.tensor([[1000 + (row * 131 + column * 37) % 20000 for column in range(tokens)] for row in range(batch)])
    ids[:, 0], ids[:, -1] = 101, 102
    return ids, torch.ones(batch, tokens, dtype=torch.long)


# ---- backbones ----

class ResNetBody(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.stem = torch.nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)
        self.layers = torch.nn.ModuleList([model.layer1, model.layer2, model.layer3, model.layer4])

    def forward(self, x):
        x, outputs = self.stem(x), []
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index > 0:
                outputs.append(x)
        return outputs


class MobileNetFeatures(torch.nn.Module):
    """Features at strides 8, 16 and 32 (after blocks 6, 13 and the final 1×1 conv)."""

    def __init__(self, norm_layer=None):
        super().__init__()
        self.features = mobilenet_v2(norm_layer=norm_layer).features

    def forward(self, x):
        outputs = []
        for index, block in enumerate(self.features):
            x = block(x)
            if index in (6, 13, 18):
                outputs.append(x)
        return outputs


class SwinFeatures(torch.nn.Module):
    """Swin-T stages 1–3 with an output LayerNorm each, as NCHW maps."""

    def __init__(self):
        super().__init__()
        self.features = SwinTransformer(patch_size=[4, 4], embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                                        window_size=[7, 7], stochastic_depth_prob=0.0).features
        self.norms = torch.nn.ModuleList([torch.nn.LayerNorm(96 << stage) for stage in (1, 2, 3)])

    def forward(self, x):
        x = self.features[0](x)
        outputs = []
        for stage in range(4):
            x = self.features[2 * stage + 1](x)
            if stage > 0:
                outputs.append(self.norms[stage - 1](x).permute(0, 3, 1, 2))
            if stage < 3:
                x = self.features[2 * stage + 2](x)
        return outputs


BACKBONES = {
    "resnet50": lambda: ResNetBody(resnet50()), "resnet18": lambda: ResNetBody(resnet18()),
    "mobilenet_v2": MobileNetFeatures, "swin_t": SwinFeatures,
}


def backbone_case(name, train, batch, size, tokens):
    model = BACKBONES[name]()
    images = torch.randn(batch, 3, size, size)
    if not train:
        model.eval()
        return lambda: model(images)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        loss = sum((feature * feature).mean() for feature in model(images))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return step


# ---- language ----

def bert(hidden, layers, heads, intermediate):
    from transformers import BertConfig, BertModel
    config = BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=intermediate, max_position_embeddings=512)
    return BertModel(config, add_pooling_layer=False).eval()


def language_case(name, train, batch, size, tokens):
    model = bert(768, 12, 12, 3072) if name == "bert_base" else bert(384, 6, 12, 1536)
    ids, mask = prompt_ids(batch, tokens)
    return lambda: model(input_ids=ids, attention_mask=mask).last_hidden_state


# ---- GLIP: fusion, tower and heads (the formulas of scripts/reference/heads.py at full size) ----

class XMHABlock(torch.nn.Module):
    def __init__(self, v_dim, l_dim, embed_dim, heads):
        super().__init__()
        self.heads, self.embed = heads, embed_dim
        self.norm_v, self.norm_l = torch.nn.LayerNorm(v_dim), torch.nn.LayerNorm(l_dim)
        self.gamma_v = torch.nn.Parameter(torch.full((v_dim,), 0.125))
        self.gamma_l = torch.nn.Parameter(torch.full((l_dim,), 0.125))
        self.v_proj, self.l_proj = torch.nn.Linear(v_dim, embed_dim), torch.nn.Linear(l_dim, embed_dim)
        self.values_v, self.values_l = torch.nn.Linear(v_dim, embed_dim), torch.nn.Linear(l_dim, embed_dim)
        self.out_v, self.out_l = torch.nn.Linear(embed_dim, v_dim), torch.nn.Linear(embed_dim, l_dim)

    def forward(self, levels, text, mask):
        batch, d = levels[0].shape[0], self.embed // self.heads
        sizes = [level.shape[2] * level.shape[3] for level in levels]
        v = torch.cat([level.flatten(2).transpose(1, 2) for level in levels], 1)
        v, l = self.norm_v(v), self.norm_l(text)

        def split(x):
            return x.view(batch, -1, self.heads, d).transpose(1, 2)

        q = split(self.v_proj(v) * d ** -0.5)
        k, vv, vl = split(self.l_proj(l)), split(self.values_v(v)), split(self.values_l(l))
        scores = torch.clamp(q @ k.transpose(-1, -2), -50000, 50000)
        t = scores.transpose(-1, -2)
        t = torch.clamp(t - t.max(dim=-1, keepdim=True)[0], -50000, 50000)
        additive = mask[:, None, None, :].masked_fill(mask[:, None, None, :] == 0, -9e15)
        p_v, p_l = F.softmax(scores + additive, dim=-1), F.softmax(t, dim=-1)
        dv = self.out_v((p_v @ vl).transpose(1, 2).reshape(batch, -1, self.embed))
        dl = self.out_l((p_l @ vv).transpose(1, 2).reshape(batch, -1, self.embed))
        v, l = v + self.gamma_v * dv, l + self.gamma_l * dl
        return [chunk.transpose(1, 2).reshape(batch, -1, level.shape[2], level.shape[3])
                for chunk, level in zip(v.split(sizes, 1), levels)], l


def pyramid_sizes(height, width):
    """The five FPN levels (strides 8 to 128): each halves the last, rounding up."""
    sizes = [(-(-height // 8), -(-width // 8))]
    for _ in range(4):
        sizes.append((-(-sizes[-1][0] // 2), -(-sizes[-1][1] // 2)))
    return sizes


def xmha_case(name, train, batch, size, tokens, width=None):
    block = XMHABlock(256, 768, 2048, 8).eval()
    levels = [torch.randn(batch, 256, h, w) for h, w in pyramid_sizes(size, width or OFFICIAL_WIDTH)]
    text, mask = torch.randn(batch, tokens, 768), torch.ones(batch, tokens)
    return lambda: block(levels, text, mask)


def deform_conv2d(x, offset, mask, weight, bias, stride):
    """Modulated deformable 3×3 conv (padding 1, one offset group): bilinear samples per tap with grid_sample
    (zero outside the map, as DCNv2), scaled by the mask, then one GEMM."""
    n, channels, height, width = x.shape
    out_h, out_w = offset.shape[2], offset.shape[3]
    base_y = (torch.arange(out_h, dtype=x.dtype) * stride - 1).view(1, out_h, 1)
    base_x = (torch.arange(out_w, dtype=x.dtype) * stride - 1).view(1, 1, out_w)
    columns = []
    for tap in range(9):
        i, j = divmod(tap, 3)
        y = base_y + i + offset[:, 2 * tap]
        xx = base_x + j + offset[:, 2 * tap + 1]
        grid = torch.stack([2 * xx / max(width - 1, 1) - 1, 2 * y / max(height - 1, 1) - 1], -1)
        sampled = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        columns.append(sampled * mask[:, tap:tap + 1])
    columns = torch.stack(columns, 2).reshape(n, channels * 9, out_h * out_w)
    out = weight.reshape(weight.shape[0], -1) @ columns
    return (out + bias.view(1, -1, 1)).view(n, -1, out_h, out_w)


class DyConv(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.weights = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.randn(channels, channels, 3, 3) * 0.01) for _ in range(3)])
        self.biases = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(channels)) for _ in range(3)])
        self.norms = torch.nn.ModuleList([torch.nn.GroupNorm(16, channels) for _ in range(3)])
        self.attn = torch.nn.Conv2d(channels, 1, 1)
        self.fc = torch.nn.Sequential(torch.nn.Linear(channels, channels // 4), torch.nn.ReLU(),
                                      torch.nn.Linear(channels // 4, 4 * channels))
        self.offset = torch.nn.Conv2d(channels, 27, 3, padding=1)

    def conv(self, index, x, offset, mask, stride):
        return self.norms[index](deform_conv2d(x, offset, mask, self.weights[index], self.biases[index], stride))

    def dyrelu(self, x):
        channels = x.shape[1]
        y = F.hardsigmoid(self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))).view(x.shape[0], 4 * channels, 1, 1)
        a1, b1, a2, b2 = torch.split(y, channels, dim=1)
        return torch.max(x * ((a1 - 0.5) * 2 + 1.0) + (b1 - 0.5), x * ((a2 - 0.5) * 2) + (b2 - 0.5))

    def forward(self, levels):
        outputs = []
        for index, feature in enumerate(levels):
            offset_mask = self.offset(feature)
            offset, mask = offset_mask[:, :18], offset_mask[:, 18:].sigmoid()
            results = [self.conv(1, feature, offset, mask, 1)]
            if index > 0:
                results.append(self.conv(2, levels[index - 1], offset, mask, 2))
            if index < len(levels) - 1:
                coarser = levels[index + 1]
                h, w = coarser.shape[2], coarser.shape[3]
                small_offset = offset.flatten(2)[..., :h * w].reshape(offset.shape[0], 18, h, w)
                small_mask = mask.flatten(2)[..., :h * w].reshape(mask.shape[0], 9, h, w)
                up = self.conv(0, coarser, small_offset, small_mask, 1)
                results.append(F.interpolate(up, size=feature.shape[2:], mode="bilinear", align_corners=True))
            weights = [F.hardsigmoid(F.relu(self.attn(F.adaptive_avg_pool2d(r, 1)))) for r in results]
            outputs.append(self.dyrelu(torch.stack([r * w for r, w in zip(results, weights)]).mean(0)))
        return outputs


class PlainConv(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, channels, 3, padding=1)
        self.norm = torch.nn.GroupNorm(16 if channels % 16 == 0 else 1, channels)

    def forward(self, levels):
        return [F.relu(self.norm(self.conv(level))) for level in levels]


class GroundingModel(torch.nn.Module):
    def __init__(self, backbone, fpn, text, text_hidden, channels, blocks, embed, heads, text_heads, dyhead):
        super().__init__()
        from transformers import BertConfig
        from transformers.models.bert.modeling_bert import BertLayer
        self.backbone, self.fpn, self.text = backbone, fpn, text
        layer_config = BertConfig(hidden_size=text_hidden, num_attention_heads=text_heads,
                                  intermediate_size=4 * text_hidden)
        layer_config._attn_implementation = "sdpa"  # what BertModel picks for its own layers
        self.fusions = torch.nn.ModuleList([XMHABlock(channels, text_hidden, embed, heads) for _ in range(blocks)])
        self.text_layers = torch.nn.ModuleList([BertLayer(layer_config) for _ in range(blocks)])
        self.convs = torch.nn.ModuleList([DyConv(channels) if dyhead else PlainConv(channels) for _ in range(blocks)])
        self.bbox_pred = torch.nn.Conv2d(channels, 4, 3, padding=1)
        self.centerness = torch.nn.Conv2d(channels, 1, 3, padding=1)
        self.scales = torch.nn.Parameter(torch.ones(8))
        self.projection = torch.nn.Linear(text_hidden, channels)
        self.bias_lang = torch.nn.Parameter(torch.zeros(text_hidden))
        self.bias0 = torch.nn.Parameter(torch.tensor([-4.595]))
        self.log_scale = torch.nn.Parameter(torch.tensor([0.0]))

    def forward(self, images, ids, mask):
        features = self.backbone(images)
        levels = list(self.fpn({f"c{i}": f for i, f in enumerate(features)}).values())
        text = self.text(input_ids=ids, attention_mask=mask).last_hidden_state
        float_mask = mask.float()
        extended = (1.0 - float_mask[:, None, None, :]) * torch.finfo(torch.float32).min
        for fusion, text_layer, conv in zip(self.fusions, self.text_layers, self.convs):
            levels, text = fusion(levels, text, float_mask)
            text = text_layer(text, attention_mask=extended)
            text = text[0] if isinstance(text, tuple) else text
            levels = conv(levels)
        normalised = F.normalize(text, p=2, dim=-1)
        projected = self.projection(normalised / 2.0)
        token_bias = (normalised @ self.bias_lang)[:, None, :] + self.bias0
        deltas, centerness, logits = [], [], []
        for index, level in enumerate(levels):
            deltas.append(self.bbox_pred(level) * self.scales[index])
            centerness.append(self.centerness(level))
            regions = level.flatten(2).transpose(1, 2)
            logits.append(torch.clamp(regions @ projected.transpose(-1, -2) / self.log_scale.exp() + token_bias,
                                      -50000, 50000))
        return deltas, centerness, logits


def glip_t_b_case(name, train, batch, size, tokens):
    fpn = FeaturePyramidNetwork([192, 384, 768], 256, extra_blocks=LastLevelP6P7(256, 256))
    model = GroundingModel(SwinFeatures(), fpn, bert(768, 12, 12, 3072), 768, channels=256, blocks=6, embed=2048,
                           heads=8, text_heads=12, dyhead=True).eval()
    images = torch.randn(batch, 3, size, size)
    ids, mask = prompt_ids(batch, tokens)
    return lambda: model(images, ids, mask)


class KeepAnchors(dict):
    """The official model's intermediate record, keeping only the anchors post-processing needs, so that the stored
    feature maps do not add to the measured peak memory."""

    def __setitem__(self, key, value):
        if key.startswith("anchors."):
            super().__setitem__(key, value)

    def update(self, other):
        for key, value in other.items():
            self[key] = value


class StageTimes:
    """Wall time per stage (backbone, neck, text encoder, each tower part, head outputs, post-processing), from
    wrappers around the official model's module calls; the names match `glip bench --breakdown`."""

    def __init__(self):
        self.totals = {}

    def wrap(self, module, stage):
        forward = module.forward

        def timed(*args, **kwargs):
            start = time.perf_counter()
            result = forward(*args, **kwargs)
            self.totals[stage] = self.totals.get(stage, 0.0) + (time.perf_counter() - start) * 1000
            return result
        module.forward = timed

    def timed(self, stage, function):
        def call(*args, **kwargs):
            start = time.perf_counter()
            result = function(*args, **kwargs)
            self.totals[stage] = self.totals.get(stage, 0.0) + (time.perf_counter() - start) * 1000
            return result
        return call


def official_case(name, train, batch, size, tokens, width=None):
    """GLIP-T (B) or GLIP-L from scripts/reference/glip_official.py (the official code's inference path), random
    weights: one forward pass and GLIP's post-processing, as `glip bench glip_t|glip_l`."""
    import glip_official
    model = glip_official.build("glip_t_b" if name == "glip_t" else "glip_l")
    stages = StageTimes()
    stages.wrap(model.backbone.body, "backbone")
    stages.wrap(model.backbone.fpn, "neck")
    stages.wrap(model.language_backbone, "text encoder")
    tower = list(model.rpn.head.dyhead_tower)
    for block in range(model.p.num_convs):
        fusion, text_layer, conv = tower[block * 3:(block + 1) * 3]
        stages.wrap(fusion, "tower: fusion")
        stages.wrap(text_layer, "tower: text layer")
        stages.wrap(conv, "tower: DyHeadConv")
    post_process = stages.timed("post-processing", glip_official.post_process)
    width = width or OFFICIAL_WIDTH
    images = torch.randn(batch, 3, size, width)
    ids, mask = prompt_ids(batch, tokens)
    phrases = [list(range(start, min(start + 3, tokens - 1))) for start in range(1, tokens - 1, 3)]
    config = glip_official.PostConfig()

    def run():
        record = KeepAnchors()
        outputs, _ = model(images, ids, mask, record)
        anchors = [record[f"anchors.{level}"] for level in range(len(outputs))]
        return post_process(outputs, anchors, phrases, config, (size, width))
    run.stages = stages
    return run


def sigmoid_focal_loss(logits, targets, alpha=0.25, gamma=2.0):
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    return ((alpha * targets + (1 - alpha) * (1 - targets)) * ce * (1 - p_t) ** gamma).sum()


def giou_loss(a, b):
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt, rb = torch.max(a[:, :2], b[:, :2]), torch.min(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    union = area_a + area_b - inter
    hull = (torch.max(a[:, 2:], b[:, 2:]) - torch.min(a[:, :2], b[:, :2])).clamp(min=0).prod(1)
    return (1 - (inter / union - (hull - union) / hull)).sum()


def demo_case(name, train, batch, size, tokens):
    backbone = MobileNetFeatures(norm_layer=FrozenBatchNorm2d)
    for block in backbone.features[:4]:  # frozen_stages: 2 (stem and the first two stages)
        block.requires_grad_(False)
    fpn = FeaturePyramidNetwork([32, 96, 1280], 64)
    text = bert(384, 6, 12, 1536).requires_grad_(False)
    model = GroundingModel(backbone, fpn, text, 384, channels=64, blocks=2, embed=128, heads=4, text_heads=6,
                           dyhead=False)
    images = torch.randn(batch, 3, size, size)
    ids, mask = prompt_ids(batch, tokens)
    if not train:
        model.eval()
        return lambda: model(images, ids, mask)
    model.train()
    text.eval()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.05)
    generator = torch.Generator().manual_seed(0)

    def step():
        deltas, centerness, logits = model(images, ids, mask)
        logits = torch.cat(logits, 1)
        targets = torch.zeros_like(logits)
        positives = torch.randint(0, logits.shape[1], (batch, 27), generator=generator)
        for image in range(batch):
            targets[image, positives[image], 1:4] = 1
        regression = torch.cat([d.flatten(2) for d in deltas], 2).transpose(1, 2)
        chosen = regression[torch.arange(batch)[:, None], positives].reshape(-1, 4)
        boxes = torch.cat([chosen[:, :2] - chosen[:, 2:].exp(), chosen[:, :2] + chosen[:, 2:].exp()], 1)
        target_boxes = torch.tensor([[-1.0, -1.0, 1.0, 1.0]]).expand_as(boxes)
        ctr = torch.cat([c.flatten(1) for c in centerness], 1)
        chosen_ctr = ctr[torch.arange(batch)[:, None], positives].reshape(-1)
        loss = (sigmoid_focal_loss(logits, targets) / positives.numel() + giou_loss(boxes, target_boxes)
                / positives.numel() + F.binary_cross_entropy_with_logits(chosen_ctr, torch.full_like(chosen_ctr, 0.5)))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return step


# ---- kernels ----

def gemm_case(name, train, batch, size, tokens):
    a, b = torch.randn(size, size), torch.randn(size, size)
    return lambda: torch.mm(a, b)


def conv3x3_case(name, train, batch, size, tokens):
    x = torch.randn(batch, 256, size, size)
    w = torch.randn(256, 256, 3, 3) * 0.02
    b = torch.zeros(256)
    if not train:
        return lambda: F.conv2d(x, w, b, padding=1)
    for tensor in (x, w, b):
        tensor.requires_grad_(True)
    seed = torch.randn(batch, 256, size, size)

    def run():
        x.grad = w.grad = b.grad = None
        F.conv2d(x, w, b, padding=1).backward(seed)
    return run


BUILDERS = {"gemm": gemm_case, "conv3x3": conv3x3_case, "bert_base": language_case, "minilm": language_case,
            "glip_t_b": glip_t_b_case, "xmha": xmha_case, "glip_t": official_case, "glip_l": official_case, "demo": demo_case, **{name: backbone_case for name in BACKBONES}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--size", type=int)
    parser.add_argument("--tokens", type=int)
    parser.add_argument("--width", type=int, help="image width where it differs from --size (xmha, glip_t, glip_l)")
    parser.add_argument("--breakdown", action="store_true", help="time per stage (glip_t, glip_l)")
    parser.add_argument("cases", nargs="*")
    args = parser.parse_args()
    names = args.cases or [name for name, (trains, _, _) in DEFAULTS.items() if trains or not args.train]
    for name in names:
        if name not in DEFAULTS:
            parser.error(f"unknown bench case '{name}'; known cases: {', '.join(DEFAULTS)}")
        if args.train and not DEFAULTS[name][0]:
            parser.error(f"bench case '{name}' has no training step")
    torch.set_num_threads(args.threads)
    for name in names:
        torch.manual_seed(0)
        batch, size, tokens = DEFAULTS[name][2 if args.train else 1]
        batch, size, tokens = args.batch or batch, args.size or size, args.tokens or tokens
        extra = {"width": args.width} if name in ("glip_t", "glip_l", "xmha") else {}
        run = BUILDERS[name](name, args.train, batch, size, tokens, **extra)
        times = []
        with torch.inference_mode(not args.train):
            for _ in range(args.warmup):
                run()
            stages = getattr(run, "stages", None)
            if stages:
                stages.totals.clear()
            for _ in range(args.repeat):
                start = time.perf_counter()
                run()
                times.append((time.perf_counter() - start) * 1000)
            peak = peak_resident_mb()
            stage_ms = {stage: round(total / args.repeat, 2) for stage, total in stages.totals.items()} if stages else {}
            # One more, untimed run counts the floating-point operations (PyTorch's count: convolutions, matrix
            # products and attention; element-wise work is not counted), which both sides' rates are taken over.
            with FlopCounterMode(display=False) as counter:
                run()
        result = {
            "case": label(name, args.train, tokens, size, args.width), "median_ms": round(statistics.median(times), 3),
            "min_ms": round(min(times), 3), "max_ms": round(max(times), 3),
            "peak_rss_mb": round(peak, 1), "gflop": round(counter.get_total_flops() / 1e9, 3),
            "blas_core": "pytorch " + torch.__version__,
        }
        if args.breakdown and stage_ms:
            result["stages_ms"] = stage_ms
        print(json.dumps(result), flush=True)


def peak_resident_mb():
    """VmHWM of this process; ru_maxrss would carry over the parent's peak across fork/exec on Linux."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
