/// Remap tables shipped with the toolkit. Each is also committed under configs/remaps/ (a test keeps the two equal),
/// where users can read it and copy it as a starting point for their own checkpoints.
public enum BuiltinRemaps {
  public static let files: [String: String] = [
    "hf_bert.yaml": hfBert, "mmdet_swin.yaml": mmdetSwin, "swin.yaml": swin,
    "torchvision_backbone.yaml": torchvisionBackbone, "torchvision_classifier.yaml": torchvisionClassifier,
    "glip_official.yaml": glipOfficial, "glip_official_a.yaml": glipOfficialA,
  ]

  public static let hfBert = """
    # HF BERT checkpoints (BertModel, BertForPreTraining, BertForMaskedLM, sentence-transformers exports) → the keys of
    # the `bert` text encoder (below `text_encoder.`). Listed keys are not silently dropped: anything neither mapped nor
    # ignored here fails strict loading.
    strip_prefixes: ["bert."]
    renames:
      - {from: "LayerNorm.gamma", to: "LayerNorm.weight"}
      - {from: "LayerNorm.beta", to: "LayerNorm.bias"}
    ignore:
      - "embeddings.position_ids"
      - "pooler.*"
      - "cls.*"

    """

  public static let mmdetSwin = """
    # MMDetection Swin checkpoints → the `swin` backbone. MMDetection names blocks differently, and its patch merging
    # (nn.Unfold) lays the four 2×2 sub-grids out per channel (interleaved) in the order 0, 2, 1, 3, where the official
    # code concatenates whole sub-grids as 0, 1, 2, 3; the merging weights are regrouped and reordered. The official and
    # GLIP layout (configs/remaps/swin.yaml) needs neither.
    strip_prefixes: ["backbone."]
    renames:
      - {from: "patch_embed.projection.", to: "patch_embed.proj."}
      - {from: "stages.", to: "layers."}
      - {from: "attn.w_msa.", to: "attn."}
      - {from: "ffn.layers.0.0.", to: "mlp.fc1."}
      - {from: "ffn.layers.1.", to: "mlp.fc2."}
      - {from: "ln1.", to: "norm1."}
      - {from: "ln2.", to: "norm2."}
    ignore:
      - "*.relative_position_index"
      - "head.*"
    transforms:
      - {match: "layers.*.downsample.reduction.weight", reorder_blocks: [0, 2, 1, 3], axis: 1, deinterleave: true}
      - {match: "layers.*.downsample.norm.weight", reorder_blocks: [0, 2, 1, 3], axis: 0, deinterleave: true}
      - {match: "layers.*.downsample.norm.bias", reorder_blocks: [0, 2, 1, 3], axis: 0, deinterleave: true}

    """

  public static let swin = """
    # Official Swin (ImageNet) and GLIP checkpoints → the `swin` backbone (below `backbone.`). GLIP wraps the backbone as
    # module.backbone.body; buffers the model recomputes (relative position indices, attention masks) and the
    # classification head are not loaded.
    strip_prefixes: ["module.backbone.body.", "backbone.body.", "backbone."]
    renames: []
    ignore:
      - "*.relative_position_index"
      - "*.attn_mask"
      - "norm.weight"
      - "norm.bias"
      - "head.*"

    """

  public static let torchvisionBackbone = """
    # torchvision classification checkpoints (ResNet, MobileNetV2) → a backbone slot (below `backbone.`). Keys already
    # match; the classification head is not part of a detection backbone, and BatchNorm's batch counters are not loaded.
    strip_prefixes: []
    renames: []
    ignore:
      - "fc.*"
      - "classifier.*"
      - "*.num_batches_tracked"

    """

  public static let torchvisionClassifier = """
    # torchvision classification checkpoints → the same network with its classifier kept (for checking ImageNet
    # predictions). Only BatchNorm's batch counters are not loaded.
    strip_prefixes: []
    renames: []
    ignore:
      - "*.num_batches_tracked"

    """

  public static let glipOfficial = """
    # Official GLIP checkpoints (microsoft/GLIP model zoo: GLIP-T (B), (C), GLIP-T and GLIP-L, `{"model": {...}}` saved
    # from a multi-GPU wrapper) → this toolkit's keys. Load them with `glip predict` or `glip eval --config configs/glip/…
    # --checkpoint FILE.pth`, or convert them once with `glip convert --remap` and this file.
    #
    # Each key is rewritten by the first prefix rule matching its start. The tower holds three modules per block b:
    # dyhead_tower.{3b} the X-MHA fusion (VLFuse.b_attn), {3b+1} the new BERT layer, {3b+2} the DyHead conv block.
    # Not loaded: buffers the model recomputes (Swin's relative position indices and masks, BERT's position ids, the
    # anchors) and the legacy 80-class `cls_logits` conv, unused with the language branch.
    strip_prefixes: ["module."]
    prefixes:
      - {from: "backbone.body.", to: "backbone."}
      - {from: "backbone.fpn.fpn_inner{n+2}.", to: "neck.lateral.{n}."}
      - {from: "backbone.fpn.fpn_layer{n+2}.", to: "neck.output.{n}."}
      - {from: "backbone.fpn.top_blocks.", to: "neck."}
      - {from: "language_backbone.body.model.", to: "text_encoder."}
      - {from: "rpn.head.dyhead_tower.{3b}.b_attn.", to: "head.tower.{b}.fusion."}
      - {from: "rpn.head.dyhead_tower.{3b+1}.", to: "head.tower.{b}.text_layer."}
      - {from: "rpn.head.dyhead_tower.{3b+2}.", to: "head.tower.{b}.conv."}
      - {from: "rpn.head.scales.{n}.scale", to: "head.scales.{n}"}
      - {from: "rpn.head.dot_product_projection_text.", to: "head.classifier.projection."}
      - {from: "rpn.head.log_scale", to: "head.classifier.log_scale"}
      - {from: "rpn.head.bias_lang", to: "head.classifier.bias_lang"}
      - {from: "rpn.head.bias0", to: "head.classifier.bias0"}
      - {from: "rpn.head.bbox_pred.", to: "head.bbox_pred."}
      - {from: "rpn.head.centerness.", to: "head.centerness."}
    ignore:
      - "*.relative_position_index"
      - "*.attn_mask"
      - "text_encoder.embeddings.position_ids"
      - "text_encoder.embeddings.token_type_ids"
      - "rpn.anchor_generator.*"
      - "rpn.head.cls_logits.*"

    """

  public static let glipOfficialA = """
    # Official GLIP-T (A) checkpoints (microsoft/GLIP model zoo; no fusion; `{"model": {...}}` saved from a multi-GPU
    # wrapper) → this toolkit's keys, for configs/glip/glip_t_a.yaml. The other GLIP models use glip_official.yaml.
    #
    # Each key is rewritten by the first prefix rule matching its start. Without fusion the tower holds one module
    # per block: dyhead_tower.{b} is block b's DyHead conv block.
    # Not loaded: buffers the model recomputes (Swin's relative position indices and masks, BERT's position ids, the
    # anchors) and the legacy 80-class `cls_logits` conv, unused with the language branch.
    strip_prefixes: ["module."]
    prefixes:
      - {from: "backbone.body.", to: "backbone."}
      - {from: "backbone.fpn.fpn_inner{n+2}.", to: "neck.lateral.{n}."}
      - {from: "backbone.fpn.fpn_layer{n+2}.", to: "neck.output.{n}."}
      - {from: "backbone.fpn.top_blocks.", to: "neck."}
      - {from: "language_backbone.body.model.", to: "text_encoder."}
      - {from: "rpn.head.dyhead_tower.{b}.", to: "head.tower.{b}.conv."}
      - {from: "rpn.head.scales.{n}.scale", to: "head.scales.{n}"}
      - {from: "rpn.head.dot_product_projection_text.", to: "head.classifier.projection."}
      - {from: "rpn.head.log_scale", to: "head.classifier.log_scale"}
      - {from: "rpn.head.bias_lang", to: "head.classifier.bias_lang"}
      - {from: "rpn.head.bias0", to: "head.classifier.bias0"}
      - {from: "rpn.head.bbox_pred.", to: "head.bbox_pred."}
      - {from: "rpn.head.centerness.", to: "head.centerness."}
    ignore:
      - "*.relative_position_index"
      - "*.attn_mask"
      - "text_encoder.embeddings.position_ids"
      - "text_encoder.embeddings.token_type_ids"
      - "rpn.anchor_generator.*"
      - "rpn.head.cls_logits.*"

    """
}
