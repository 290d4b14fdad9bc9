/// Remap tables shipped with the toolkit. Each is also committed under configs/remaps/ (a test keeps the two equal),
/// where users can read it and copy it as a starting point for their own checkpoints.
public enum BuiltinRemaps {
  public static let files: [String: String] = [
    "hf_bert.yaml": hfBert, "swin.yaml": swin, "torchvision_backbone.yaml": torchvisionBackbone,
    "torchvision_classifier.yaml": torchvisionClassifier,
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
}
