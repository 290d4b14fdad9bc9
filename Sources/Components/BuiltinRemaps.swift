/// Remap tables shipped with the toolkit. Each is also committed under configs/remaps/ (a test keeps the two equal),
/// where users can read it and copy it as a starting point for their own checkpoints.
public enum BuiltinRemaps {
  public static let files: [String: String] = ["hf_bert.yaml": hfBert]

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
}
