#!/usr/bin/env python3
"""Head-side fixtures written from the formulas of GLIP (see GLIP-NOTES.md), in plain PyTorch.

Writes Tests/Fixtures/heads/bi_attention.safetensors: an X-MHA fusion block (pre-LN, Q scaled by 1/sqrt(d), scores
clamped to ±50000, the text side's softmax over image positions after subtracting the row max and clamping again,
the image side's softmax over tokens with −9e15 added at padded tokens, outputs through the out projections, residual
on the normalised inputs scaled by γ) on two image levels and a padded prompt: weights (GLIP key names), inputs,
outputs and the gradients of sum(out · seed) for inputs and every parameter. Dropout is off (evaluation).

Also writes Tests/Fixtures/heads/assignment.safetensors:
  - ATSS assignment on random boxes over three levels (anchors of side 8·stride centred at i·stride; per level the
    9 anchors nearest each box centre; IoU threshold mean + unbiased std; centre strictly inside (> 0.01); ties to the
    highest IoU), written from GLIP's rules;
  - torchvision.ops.sigmoid_focal_loss and generalized_box_iou_loss on random inputs.
"""
import pathlib
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from glip_official import dyconv_offsets_for, modulated_deform_conv3x3  # noqa: E402
OUT = ROOT / "Tests" / "Fixtures" / "heads"


class XMHABlock(torch.nn.Module):
    def __init__(self, v_dim, l_dim, embed_dim, heads, gamma):
        super().__init__()
        self.heads = heads
        self.layer_norm_v = torch.nn.LayerNorm(v_dim)
        self.layer_norm_l = torch.nn.LayerNorm(l_dim)
        self.gamma_v = torch.nn.Parameter(torch.full((v_dim,), gamma))
        self.gamma_l = torch.nn.Parameter(torch.full((l_dim,), gamma))
        names = {"v_proj": (v_dim, embed_dim), "l_proj": (l_dim, embed_dim), "values_v_proj": (v_dim, embed_dim),
                 "values_l_proj": (l_dim, embed_dim), "out_v_proj": (embed_dim, v_dim),
                 "out_l_proj": (embed_dim, l_dim)}
        self.attn = torch.nn.Module()
        for name, (inputs, outputs) in names.items():
            layer = torch.nn.Linear(inputs, outputs)
            torch.nn.init.normal_(layer.bias, std=0.1)
            setattr(self.attn, name, layer)

    def forward(self, levels, text, mask):
        batch = levels[0].shape[0]
        sizes = [level.shape[2] * level.shape[3] for level in levels]
        v = torch.cat([level.flatten(2).transpose(1, 2) for level in levels], 1)
        v, l = self.layer_norm_v(v), self.layer_norm_l(text)
        a = self.attn
        embed = a.v_proj.out_features
        d = embed // self.heads

        def split(x):
            return x.view(batch, -1, self.heads, d).transpose(1, 2)

        q = split(a.v_proj(v) * d ** -0.5)
        k, vv, vl = split(a.l_proj(l)), split(a.values_v_proj(v)), split(a.values_l_proj(l))
        scores = torch.clamp(q @ k.transpose(-1, -2), -50000, 50000)
        t = scores.transpose(-1, -2)
        t = torch.clamp(t - t.max(dim=-1, keepdim=True)[0], -50000, 50000)
        additive = mask[:, None, None, :].masked_fill(mask[:, None, None, :] == 0, -9e15)
        p_v = F.softmax(scores + additive, dim=-1)
        p_l = F.softmax(t, dim=-1)
        dv = a.out_v_proj((p_v @ vl).transpose(1, 2).reshape(batch, -1, embed))
        dl = a.out_l_proj((p_l @ vv).transpose(1, 2).reshape(batch, -1, embed))
        v = v + self.gamma_v * dv
        l = l + self.gamma_l * dl
        outputs = [chunk.transpose(1, 2).reshape(batch, -1, level.shape[2], level.shape[3])
                   for chunk, level in zip(v.split(sizes, 1), levels)]
        return outputs, l


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    block = XMHABlock(v_dim=8, l_dim=6, embed_dim=16, heads=4, gamma=0.5)
    levels = [torch.randn(2, 8, 4, 5, requires_grad=True), torch.randn(2, 8, 2, 3, requires_grad=True)]
    text = torch.randn(2, 7, 6, requires_grad=True)
    mask = torch.tensor([[1.0] * 7, [1.0] * 4 + [0.0] * 3])
    outputs, fused_text = block(levels, text, mask)
    seeds = [torch.randn_like(o) for o in outputs] + [torch.randn_like(fused_text)]
    loss = sum((o * s).sum() for o, s in zip(outputs + [fused_text], seeds))
    loss.backward()
    tensors = {f"weight.{k}": v.detach().clone() for k, v in block.state_dict().items()}
    tensors.update({f"grad.{k}": p.grad.clone() for k, p in block.named_parameters()})
    tensors.update({"input.level0": levels[0].detach(), "input.level1": levels[1].detach(),
                    "input.text": text.detach(), "input.mask": mask,
                    "output.level0": outputs[0].detach(), "output.level1": outputs[1].detach(),
                    "output.text": fused_text.detach(),
                    "seed.level0": seeds[0], "seed.level1": seeds[1], "seed.text": seeds[2],
                    "grad.input.level0": levels[0].grad, "grad.input.level1": levels[1].grad,
                    "grad.input.text": text.grad})
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT / "bi_attention.safetensors"))
    print("wrote bi_attention.safetensors")


class DyConvReference(torch.nn.Module):
    """GLIP's DyConv (rpn/vldyhead.py) written out from GLIP-NOTES, with its key names; the deformable convs and the
    kernel's reading of offsets and masks are glip_official.py's."""

    def __init__(self, channels):
        super().__init__()
        self.DyConv = torch.nn.ModuleList()
        for _ in range(3):
            block = torch.nn.Module()
            block.conv = torch.nn.Module()
            block.conv.weight = torch.nn.Parameter(torch.randn(channels, channels, 3, 3) * 0.1)
            block.conv.bias = torch.nn.Parameter(torch.randn(channels) * 0.1)
            block.bn = torch.nn.GroupNorm(16, channels)
            self.DyConv.append(block)
        self.AttnConv = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Conv2d(channels, 1, 1))
        self.relu = torch.nn.Module()
        self.relu.fc = torch.nn.Sequential(torch.nn.Linear(channels, channels // 4), torch.nn.ReLU(),
                                           torch.nn.Linear(channels // 4, 4 * channels))
        self.offset = torch.nn.Conv2d(channels, 27, 3, padding=1)
        with torch.no_grad():
            self.offset.weight.normal_(0, 0.05)
            self.offset.bias.normal_(0, 0.3)
            for block in self.DyConv:
                block.bn.weight.normal_(1, 0.2)
                block.bn.bias.normal_(0, 0.2)

    def conv(self, index, x, offset, mask, stride):
        block = self.DyConv[index]
        out = modulated_deform_conv3x3(x, offset, mask, block.conv.weight, block.conv.bias, stride)
        return block.bn(out)

    def dyrelu(self, x):
        channels = x.shape[1]
        y = F.hardsigmoid(self.relu.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))).view(x.shape[0], 4 * channels, 1, 1)
        a1, b1, a2, b2 = torch.split(y, channels, dim=1)
        a1, a2 = (a1 - 0.5) * 2 + 1.0, (a2 - 0.5) * 2
        b1, b2 = b1 - 0.5, b2 - 0.5
        return torch.max(x * a1 + b1, x * a2 + b2)

    def forward(self, levels):
        outputs = []
        for index, feature in enumerate(levels):
            offset_mask = self.offset(feature)
            mask = offset_mask[:, 18:].sigmoid()
            offset, same_mask = dyconv_offsets_for(offset_mask, mask, feature.shape[2], feature.shape[3])
            results = [self.conv(1, feature, offset, same_mask, 1)]
            if index > 0:
                results.append(self.conv(2, levels[index - 1], offset, same_mask, 2))
            if index < len(levels) - 1:
                coarser = levels[index + 1]
                # GLIP's kernel reads this level's offsets and masks as raw per-batch-element memory: the first
                # 18·h·w values of offset_mask[b]'s buffer and the first 9·h·w of mask[b]'s (glip_official.py).
                small_offset, small_mask = dyconv_offsets_for(offset_mask, mask, coarser.shape[2], coarser.shape[3])
                up = self.conv(0, coarser, small_offset, small_mask, 1)
                results.append(F.interpolate(up, size=feature.shape[2:], mode="bilinear", align_corners=True))
            weights = [F.hardsigmoid(F.relu(self.AttnConv(r))) for r in results]
            outputs.append(self.dyrelu(torch.stack([r * w for r, w in zip(results, weights)]).mean(0)))
        return outputs


def dyhead():
    torch.manual_seed(7)
    block = DyConvReference(16).double()
    levels = [torch.randn(1, 16, 8, 8, dtype=torch.float64), torch.randn(1, 16, 4, 4, dtype=torch.float64),
              torch.randn(1, 16, 2, 2, dtype=torch.float64)]
    for level in levels:
        level.requires_grad_(True)
    outputs = block(levels)
    seeds = [torch.randn_like(o) for o in outputs]
    sum((o * s).sum() for o, s in zip(outputs, seeds)).backward()
    tensors = {f"weight.{k}": v.detach().float() for k, v in block.state_dict().items()}
    for index, (level, output, seed) in enumerate(zip(levels, outputs, seeds)):
        tensors.update({f"input.{index}": level.detach().float(), f"output.{index}": output.detach().float(),
                        f"seed.{index}": seed.float(), f"grad.{index}": level.grad.float()})
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT / "dyhead.safetensors"))
    print("wrote dyhead.safetensors")


def alignment():
    """GLIP's alignment logits (GLIP-NOTES): P̄ = L2-normalise(tokens); P̃ = Linear(P̄ / 2); bias = P̄·w_lang + bias0;
    S = O·P̃ᵀ / exp(log_scale) + bias, clamped to ±50000; phrase score = mean sigmoid over the phrase's tokens."""
    generator = torch.Generator().manual_seed(11)
    regions = torch.randn(2, 5, 8, generator=generator)
    tokens = torch.randn(2, 4, 6, generator=generator) * 3
    weight, bias = torch.randn(8, 6, generator=generator) * 0.3, torch.randn(8, generator=generator) * 0.1
    w_lang, bias0 = torch.randn(6, generator=generator) * 0.2, torch.tensor([-4.595])
    log_scale = torch.tensor([0.3])
    normalised = F.normalize(tokens, p=2, dim=-1)
    projected = F.linear(normalised / 2.0, weight, bias)
    token_bias = (normalised @ w_lang)[:, None, :] + bias0
    logits = torch.clamp(regions @ projected.transpose(-1, -2) / log_scale.exp() + token_bias, -50000, 50000)
    phrases = [[0, 1], [2], [1, 3]]
    scores = torch.stack([logits.sigmoid()[..., p].mean(-1) for p in phrases], -1)
    tensors = {"regions": regions, "tokens": tokens, "projection.weight": weight, "projection.bias": bias,
               "bias_lang": w_lang, "bias0": bias0, "log_scale": log_scale, "logits": logits,
               "phrase_scores": scores}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT / "alignment.safetensors"))
    print("wrote alignment.safetensors")


def nms_reference():
    """torchvision.ops.batched_nms's result, emulated in Python (its compiled kernel is unavailable here): boxes
    offset per label so labels never overlap, scores sorted descending, a box suppressed when its IoU with a kept box
    exceeds the threshold (torchvision's nms_kernel_impl); indices returned by decreasing score."""
    generator = torch.Generator().manual_seed(31)
    xy = torch.rand(60, 2, generator=generator) * 20
    boxes = torch.cat([xy, xy + 15 + torch.rand(60, 2, generator=generator) * 20], 1)
    scores = torch.rand(60, generator=generator)
    labels = torch.randint(0, 4, (60,), generator=generator)
    offsets = labels.to(boxes) * (boxes.max() + 1)
    shifted = boxes + offsets[:, None]
    order = scores.argsort(descending=True)
    areas = (shifted[:, 2] - shifted[:, 0]) * (shifted[:, 3] - shifted[:, 1])
    suppressed = torch.zeros(60, dtype=torch.bool)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        lt = torch.max(shifted[i, :2], shifted[:, :2])
        rb = torch.min(shifted[i, 2:], shifted[:, 2:])
        wh = (rb - lt).clamp(min=0)
        inter = wh[:, 0] * wh[:, 1]
        suppressed |= inter / (areas[i] + areas - inter) > 0.5
    tensors = {"boxes": boxes, "scores": scores, "labels": labels.float(), "keep": torch.tensor(keep).float()}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT / "nms.safetensors"))
    print("wrote nms.safetensors:", len(keep), "kept of 60")


def glip_small():
    """A reduced GLIP (B) end to end: torchvision's Swin code path (embed 8, window 2) with per-stage output
    LayerNorms, torchvision's FPN with P6/P7 (32 channels), the tiny HF BERT of Tests/Fixtures/language/bert-tiny,
    two tower blocks of [X-MHA fusion → new HF BertLayer on the text → DyConv], and the ATSS branches with GLIP's
    alignment classifier. Writes the weights (head keys already in the toolkit's names), the image, the prompt ids
    and every level's box deltas, centerness and alignment logits."""
    from torchvision_shim import torchvision  # noqa: F401
    from torchvision.models.swin_transformer import SwinTransformer
    from torchvision.ops import FeaturePyramidNetwork
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7
    from transformers import BertConfig, BertModel
    from transformers.models.bert.modeling_bert import BertLayer

    torch.manual_seed(21)
    bert_dir = ROOT / "Tests" / "Fixtures" / "language" / "bert-tiny"
    bert = BertModel.from_pretrained(str(bert_dir)).eval()
    swin = SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4],
                           window_size=[2, 2], stochastic_depth_prob=0.0).eval()
    out_norms = torch.nn.ModuleList([torch.nn.LayerNorm(8 << stage) for stage in (1, 2, 3)])
    with torch.no_grad():
        for norm in out_norms:
            norm.weight.normal_(1, 0.2)
            norm.bias.normal_(0, 0.2)
    fpn = FeaturePyramidNetwork([16, 32, 64], 32, extra_blocks=LastLevelP6P7(32, 32)).eval()

    head = torch.nn.Module()
    head.tower = torch.nn.ModuleList()
    text_config = BertConfig(hidden_size=128, num_attention_heads=4, intermediate_size=512)
    for _ in range(2):
        block = torch.nn.Module()
        block.fusion = XMHABlock(v_dim=32, l_dim=128, embed_dim=32, heads=4, gamma=0.5)
        block.text_layer = BertLayer(text_config).eval()
        block.conv = DyConvReference(32)
        head.tower.append(block)
    head.bbox_pred = torch.nn.Conv2d(32, 4, 3, padding=1)
    head.centerness = torch.nn.Conv2d(32, 1, 3, padding=1)
    head.scales = torch.nn.ParameterDict({str(i): torch.nn.Parameter(torch.tensor([1.0 + 0.1 * i])) for i in range(5)})
    head.classifier = torch.nn.Module()
    head.classifier.projection = torch.nn.Linear(128, 32)
    head.classifier.bias_lang = torch.nn.Parameter(torch.randn(128) * 0.05)
    head.classifier.bias0 = torch.nn.Parameter(torch.tensor([-4.595]))
    head.classifier.log_scale = torch.nn.Parameter(torch.tensor([0.2]))
    head.eval()

    # Weights are rounded to float16 and stored that way (half the fixture size); both sides compute with them.
    with torch.no_grad():
        for module in (swin, out_norms, fpn, head):
            for parameter in module.parameters():
                parameter.copy_(parameter.half().float())
    image = torch.randn(1, 3, 128, 128)
    vocab = [line.rstrip("\n") for line in open(bert_dir / "vocab.txt", encoding="utf-8")]
    tokens = ["[CLS]", "a", "cat", ".", "[SEP]"]
    ids = torch.tensor([[vocab.index(t) for t in tokens]])
    mask = torch.ones_like(ids, dtype=torch.float32)
    with torch.no_grad():
        hidden = swin.features[0](image)
        stages = []
        for stage in range(4):
            hidden = swin.features[2 * stage + 1](hidden)
            stages.append(hidden)
            if stage < 3:
                hidden = swin.features[2 * stage + 2](hidden)
        backbone_out = [out_norms[i](stages[i + 1]).permute(0, 3, 1, 2).contiguous() for i in range(3)]
        levels = list(fpn({"c3": backbone_out[0], "c4": backbone_out[1], "c5": backbone_out[2]}).values())
        text = bert(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        extended = (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
        for block in head.tower:
            levels, text = block.fusion(levels, text, mask)
            text = block.text_layer(text, attention_mask=extended)
            text = text[0] if isinstance(text, tuple) else text
            levels = block.conv(levels)
        classifier = head.classifier
        normalised = F.normalize(text, p=2, dim=-1)
        projected = classifier.projection(normalised / 2.0)
        token_bias = (normalised @ classifier.bias_lang)[:, None, :] + classifier.bias0
        outputs = {}
        for index, level in enumerate(levels):
            outputs[f"deltas.{index}"] = head.bbox_pred(level) * head.scales[str(index)]
            outputs[f"centerness.{index}"] = head.centerness(level)
            regions = level.flatten(2).transpose(1, 2)
            outputs[f"logits.{index}"] = torch.clamp(
                regions @ projected.transpose(-1, -2) / classifier.log_scale.exp() + token_bias, -50000, 50000)
    tensors = {f"swin.{k}": v for k, v in swin.state_dict().items() if not k.startswith("head.")}
    tensors.update({f"outnorm.{i + 1}.{k}": v for i, n in enumerate(out_norms) for k, v in n.state_dict().items()})
    tensors.update({f"fpn.{k}": v for k, v in fpn.state_dict().items()})
    tensors.update({f"head.{k}": v for k, v in head.state_dict().items()})
    tensors.update({"image": image, "input_ids": ids.float(), "attention_mask": mask})
    tensors.update({f"output.{k}": v for k, v in outputs.items()})
    stored = {k: (v.detach().half() if k.split(".")[0] in ("swin", "outnorm", "fpn", "head") and v.is_floating_point()
                  else v.detach().float()).contiguous() for k, v in tensors.items()}
    save_file(stored, str(OUT / "glip_small.safetensors"))
    print("wrote glip_small.safetensors")


def anchors_for(sizes, strides, scale=8.0):
    result = []
    for (height, width), stride in zip(sizes, strides):
        ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
        cx, cy = xs.flatten().double() * stride, ys.flatten().double() * stride
        half = scale * stride / 2
        result.append(torch.stack([cx - half, cy - half, cx + half, cy + half], 1))
    return result


def box_iou(a, b):
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def atss_assign(levels, boxes, top_k=9):
    anchors = torch.cat(levels)
    starts = torch.tensor([0] + [len(level) for level in levels]).cumsum(0)
    ious = box_iou(anchors, boxes)  # [A, G]
    anchor_centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    box_centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    distances = ((anchor_centres[:, None] - box_centres[None]) ** 2).sum(-1)
    candidates = []
    for level in range(len(levels)):
        begin, end = int(starts[level]), int(starts[level + 1])
        k = min(top_k, end - begin)
        candidates.append(distances[begin:end].topk(k, dim=0, largest=False).indices + begin)
    candidates = torch.cat(candidates)  # [K·L, G]
    candidate_ious = ious.gather(0, candidates)
    threshold = candidate_ious.mean(0) + candidate_ious.std(0)
    positive = candidate_ious >= threshold[None]
    centre = anchor_centres[candidates]
    inside = torch.stack([centre[..., 0] - boxes[None, :, 0], centre[..., 1] - boxes[None, :, 1],
                          boxes[None, :, 2] - centre[..., 0], boxes[None, :, 3] - centre[..., 1]], -1).min(-1)[0] > 0.01
    positive &= inside
    best = torch.full((len(anchors), len(boxes)), -1.0, dtype=torch.float64)
    for g in range(len(boxes)):
        chosen = candidates[positive[:, g], g]
        best[chosen, g] = ious[chosen, g]
    value, index = best.max(1)
    return torch.where(value >= 0, index, torch.full_like(index, -1))


def assignment():
    from torchvision_shim import torchvision  # noqa: F401
    from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss
    generator = torch.Generator().manual_seed(5)
    sizes, strides = [(12, 16), (6, 8), (3, 4)], [8, 16, 32]
    levels = anchors_for(sizes, strides)
    xy = torch.rand(6, 2, generator=generator, dtype=torch.float64) * torch.tensor([100.0, 70.0], dtype=torch.float64)
    wh = 8 + torch.rand(6, 2, generator=generator, dtype=torch.float64) * 60
    boxes = torch.cat([xy, xy + wh], 1)
    tensors = {"atss.boxes": boxes.float(), "atss.assigned": atss_assign(levels, boxes).float()}
    logits, targets = torch.randn(20, 5, generator=generator), (torch.rand(20, 5, generator=generator) > 0.7).float()
    tensors.update({"focal.logits": logits, "focal.targets": targets,
                    "focal.loss": sigmoid_focal_loss(logits, targets, alpha=0.25, gamma=2, reduction="sum").reshape(1)})
    a = torch.rand(10, 2, generator=generator) * 50
    b = torch.rand(10, 2, generator=generator) * 50
    predicted = torch.cat([a, a + 1 + torch.rand(10, 2, generator=generator) * 30], 1)
    target = torch.cat([b, b + 1 + torch.rand(10, 2, generator=generator) * 30], 1)
    tensors.update({"giou.predicted": predicted, "giou.target": target,
                    "giou.loss": generalized_box_iou_loss(predicted, target, reduction="none")})
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT / "assignment.safetensors"))
    print("wrote assignment.safetensors:", tensors["atss.assigned"].ne(-1).sum().item(), "positive anchors")


if __name__ == "__main__":
    main()
    assignment()
    dyhead()
    alignment()
    nms_reference()
    glip_small()
