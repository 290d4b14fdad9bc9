import Components
import Config
import Datasets
import Detection
import Training

/// The one place where the built-in plugins (model slots from `Components`, dataset formats from `Training`)
/// register. The composition root's entry points (`CheckedExperiment`, `ConfigDocumentation`, `AblationPlan`) call
/// it, so callers of those never need to; it is idempotent.
public enum Builtins {
  private nonisolated(unsafe) static var registered = false

  public static func registerAll() {
    guard !registered else { return }
    registered = true
    do {
      try Registries.backbones.register(
        "tiny_cnn", summary: "Small strided CNN for tests and smoke runs (strides 8, 16, 32)", keys: TinyCNN.Keys.all,
        builtin: true
      ) { try TinyCNN(config: $0, context: $1) }
      try Registries.backbones.register(
        "resnet", summary: "ResNet 18/34/50/101 with torchvision's layout and keys", keys: ResNet.Keys.all,
        builtin: true
      ) { try ResNet.build(config: $0, context: $1) }
      try Registries.backbones.register(
        "mobilenet_v2", summary: "MobileNetV2 with torchvision's layout and keys (strides 8, 16, 32)",
        keys: MobileNetV2.Keys.all, builtin: true
      ) { try MobileNetV2.build(config: $0, context: $1) }
      try Registries.backbones.register(
        "swin", summary: "Swin Transformer in the official/GLIP layout (GLIP-T: tiny, GLIP-L: large)",
        keys: Swin.Keys.all, builtin: true
      ) { try Swin.build(config: $0, context: $1) }
      try Registries.necks.register(
        "fpn", summary: "Feature pyramid with P6/P7 (RetinaNet and GLIP style)", keys: FPN.Keys.all, builtin: true
      ) { try FPN.build(config: $0, context: $1) }
      try Registries.necks.register("none", summary: "No neck: backbone maps go to the head", keys: [], builtin: true) {
        _, context in
        IdentityNeck(inputSpecs: context.inputSpecs)
      }
      try Registries.textEncoders.register(
        "class_embedding", summary: "A learned vector per class: the closed-set detector in the grounding frame",
        keys: ClassEmbeddingEncoder.Keys.all, builtin: true
      ) { try ClassEmbeddingEncoder(config: $0, context: $1) }
      try Registries.textEncoders.register(
        "bert", summary: "BERT as in HF BertModel; loads an HF model directory or starts from random weights",
        keys: BertTextEncoder.Keys.all, builtin: true
      ) { try BertTextEncoder.build(config: $0, context: $1) }
      try Registries.fusions.register(
        "none", summary: "No fusion (GLIP-T (A))", keys: [Assembler.Keys.placement.documentation], builtin: true
      ) { _, _ in
        NoFusion()
      }
      for direction in [BiAttentionFusion.Direction.both, .textToImage, .imageToText] {
        let summary: String
        switch direction {
        case .both: summary = "GLIP's X-MHA: image and text attend to each other (deep fusion)"
        case .textToImage: summary = "Ablation: only the image attends to the text"
        case .imageToText: summary = "Ablation: only the text attends to the image"
        }
        try Registries.fusions.register(
          direction.rawValue, summary: summary, keys: BiAttentionFusion.Keys.all, builtin: true
        ) { try BiAttentionFusion.build(config: $0, context: $1, direction: direction) }
      }
      try Registries.fusions.register(
        "film", summary: "Ablation: the prompt's mean feature scales and shifts the image channels (FiLM)",
        keys: [Assembler.Keys.placement.documentation], builtin: true
      ) { try FiLMFusion.build(config: $0, context: $1) }
      try Registries.heads.register(
        "fcos", summary: "FCOS: points, size ranges and centerness, with the classifier sub-slot",
        keys: FCOSHead.keys, builtin: true
      ) { try FCOSHead.build(config: $0, context: $1) }
      try Registries.heads.register(
        "atss", summary: "ATSS (GLIP's head): anchors, adaptive IoU threshold, box-coder deltas, classifier sub-slot",
        keys: ATSSHead.keys, builtin: true
      ) { try ATSSHead.build(config: $0, context: $1) }
      try Registries.heads.register(
        "retinanet", summary: "RetinaNet-style: anchors with IoU thresholds, no centerness, classifier sub-slot",
        keys: RetinaNetHead.keys, builtin: true
      ) { try RetinaNetHead.build(config: $0, context: $1) }
      try Registries.classifiers.register(
        "alignment",
        summary: "GLIP's region-word alignment: regions scored against the prompt's tokens (`num_classes` is ignored)",
        keys: [], builtin: true
      ) { try AlignmentClassifier.build(config: $0, context: $1) }
      try Registries.classifiers.register(
        "linear", summary: "A closed-set classifier: one logit per class", keys: LinearClassifier.Keys.all,
        builtin: true
      ) { try LinearClassifier.build(config: $0, context: $1) }
      try DatasetFormats.register(CocoFormat(), builtin: true)
      try DatasetFormats.register(ODVGFormat(), builtin: true)
    } catch {
      preconditionFailure("built-in plugin registration failed: \(error)")
    }
  }
}
