import Config
import NN
import TensorCore

/// Builds a `GroundingDetector` from the `model:` section, wiring each slot's published specs into the next.
///
/// Slot sections: `backbone`, `neck` (optional), `text_encoder`, `fusion` (optional) and `head`. Each names a plugin
/// with `type:`; every slot also takes `freeze: true` to freeze all its parameters.
public enum Assembler {
  public enum Keys {
    public static let seed = ConfigKey<Int>("seed", default: 0, "seed for parameter initialisation")
    public static let freeze = ConfigKey<Bool>("freeze", default: false, "freeze every parameter of this slot")
    public static let checkpointRemap = ConfigKey<String>(
      "checkpoint_remap", default: "",
      "remap table (configs/remaps/*.yaml) applied to a PyTorch checkpoint given with --checkpoint, e.g. an "
        + "official GLIP file; empty: its keys are this toolkit's")
    public static let checkpoint = ConfigKey<String>(
      "checkpoint", default: "",
      "weights to start from (fine-tuning): a checkpoint of this toolkit (.safetensors) or a PyTorch file such as "
        + "an official GLIP .pth, read through checkpoint_remap; loaded by glip train, and by glip eval and predict "
        + "when no --checkpoint or run is given. prompt_offset, which the checkpoint may lack, starts at zero. "
        + "Empty: each slot's own initialisation (and weights)")
    public static let placement = ConfigKey<FusionPlacement>(
      "placement", default: .deep, "deep: a fusion block in every head tower block; late: only the final dot product")
  }

  public enum FusionPlacement: String, ConfigEnum { case deep, late }

  /// Keys every slot section accepts besides its plugin's own.
  public static let slotKeys: [KeyDocumentation] = [Registry<Any>.typeKey.documentation, Keys.freeze.documentation]

  public static let modelKeys: [KeyDocumentation] = [
    Keys.seed.documentation, Keys.checkpoint.documentation, Keys.checkpointRemap.documentation,
    KeyDocumentation(name: "backbone", type: "a mapping", defaultText: "required", doc: "the image encoder slot"),
    KeyDocumentation(name: "neck", type: "a mapping", defaultText: "none", doc: "the feature-pyramid slot"),
    KeyDocumentation(name: "text_encoder", type: "a mapping", defaultText: "required", doc: "the language slot"),
    KeyDocumentation(name: "fusion", type: "a mapping", defaultText: "none", doc: "the cross-modal fusion slot"),
    KeyDocumentation(name: "head", type: "a mapping", defaultText: "required", doc: "the dense head slot"),
  ]

  /// Assembles the detector. With `shapesOnly` no parameter values are written (inspection only).
  public static func assemble(_ model: ConfigSection, shapesOnly: Bool = false) throws -> GroundingDetector {
    shapesOnly ? try withShapesOnly { try build(model) } : try build(model)
  }

  private static func build(_ model: ConfigSection) throws -> GroundingDetector {
    for slot in ["backbone", "text_encoder", "head"] where !model.contains(slot) {
      throw ConfigError("model.\(slot): required slot is missing", at: model.node?.mark)
    }
    let random = RandomSource(seed: UInt64(try model.read(Keys.seed)))
    var context = BuildContext(random: random)
    var types: [String: String] = [:]

    let backboneSection = try model.section("backbone")
    let backbone = try Registries.backbones.build(backboneSection, context: context)
    types["backbone"] = try backboneSection.read(Registry<Any>.typeKey)

    let neckSection = try model.section("neck")
    var neck: (any Neck)?
    var imageSpecs = backbone.outputSpecs
    if neckSection.node != nil {
      context.inputSpecs = backbone.outputSpecs
      let built = try Registries.necks.build(neckSection, context: context)
      types["neck"] = try neckSection.read(Registry<Any>.typeKey)
      if types["neck"] != "none" {
        neck = built
        imageSpecs = built.outputSpecs
      }
    }

    let textSection = try model.section("text_encoder")
    let textEncoder = try Registries.textEncoders.build(textSection, context: context)
    types["text_encoder"] = try textSection.read(Registry<Any>.typeKey)

    let fusionSection = try model.section("fusion")
    context.inputSpecs = imageSpecs
    context.textHiddenSize = textEncoder.hiddenSize
    if fusionSection.node != nil, try fusionSection.read(Keys.placement) == .deep {
      types["fusion"] = try fusionSection.read(Registry<Any>.typeKey)
      let fusionContext = context
      context.makeFusion = { towerBlocks in
        var blockContext = fusionContext
        blockContext.towerBlocks = towerBlocks
        return try Registries.fusions.build(fusionSection, context: blockContext)
      }
    } else if fusionSection.node != nil {
      types["fusion"] = try fusionSection.read(Registry<Any>.typeKey) + " (late)"
    }

    let headSection = try model.section("head")
    let head = try Registries.heads.build(headSection, context: context)
    types["head"] = try headSection.read(Registry<Any>.typeKey)

    let detector = GroundingDetector(
      backbone: backbone, neck: neck, textEncoder: textEncoder, head: head, slotTypes: types)
    let slots = [
      ("backbone", backboneSection), ("neck", neckSection), ("text_encoder", textSection), ("head", headSection),
    ]
    for (slot, section) in slots where section.node != nil {
      let frozen = try section.read(Keys.freeze)
      if frozen && detector.namedParameters().contains(where: { $0.key.hasPrefix("\(slot).") }) {
        try detector.freeze(matching: ["\(slot).*"])
      }
    }
    if fusionSection.node != nil {
      let frozen = try fusionSection.read(Keys.freeze)
      if frozen && detector.namedParameters().contains(where: { FusionLayout.isFusionParameter($0.key) }) {
        try detector.freeze(matching: [FusionLayout.parameterPattern])
      }
    }
    return detector
  }
}
