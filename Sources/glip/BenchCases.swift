import Components
import Config
import Detection
import Experiments
import Foundation
import NN
import TensorCore

/// What `glip bench` was asked to run: a named case, forward or training step, at a shape.
struct BenchShape {
  var train: Bool
  var batch: Int
  var size: Int
  var tokens: Int
  /// The image width where it differs from `size` (the height); nil for square images.
  var width: Int? = nil

  var imageWidth: Int { width ?? size }
}

/// A timed workload. `makeBody` builds the model and inputs once and returns the closure that is timed; the closure
/// returns tensors that identify its result (forward outputs, or a training step's loss and a gradient), which
/// `--output` saves so that runs with different BLAS kernels can be compared.
struct BenchCase {
  let name: String
  let summary: String
  /// Whether `--train` times a training step of this case.
  let trains: Bool
  /// Default shape per mode.
  let defaults: (_ train: Bool) -> BenchShape
  /// Floating-point operations of one run at a shape (0 when not tallied).
  let flops: (BenchShape) -> Double
  let makeBody: (BenchShape) throws -> () -> [String: Tensor]

  /// The label in reports: the case, the mode and the token count of language cases.
  func label(_ shape: BenchShape) -> String {
    var label = name
    if shape.train { label += " train" }
    if ["bert_base", "minilm"].contains(name) { label += " \(shape.tokens) tokens" }
    if ["glip_t", "glip_l", "xmha"].contains(name) {
      label += " \(shape.size)×\(shape.imageWidth), \(shape.tokens) tokens"
    }
    return label
  }

  static func named(_ name: String) -> BenchCase? { all.first { $0.name == name } }

  static let all: [BenchCase] = [
    BenchCase(
      name: "gemm", summary: "sgemm 1024×1024×1024 (the machine's GEMM ceiling)", trains: false,
      defaults: { _ in BenchShape(train: false, batch: 1, size: 1024, tokens: 0) },
      flops: { 2 * pow(Double($0.size), 3) }
    ) { shape in
      let a = Tensor.normal([shape.size, shape.size], seed: 1)
      let b = Tensor.normal([shape.size, shape.size], seed: 2)
      return { ["output": withNoGrad { a.matmul(b) }] }
    },
    BenchCase(
      name: "conv3x3", summary: "conv2d 3×3 256→256 on 1×256×64×64", trains: true,
      defaults: { BenchShape(train: $0, batch: 1, size: 64, tokens: 0) },
      flops: { shape in
        Double(shape.train ? 3 : 1) * 2 * 256 * 256 * 9 * Double(shape.batch * shape.size * shape.size)
      }, makeBody: conv3x3),
    backbone("resnet50", "ResNet-50 body (C3–C5)", "{type: resnet, depth: 50}"),
    backbone("resnet18", "ResNet-18 body (C3–C5)", "{type: resnet, depth: 18}"),
    backbone("mobilenet_v2", "MobileNetV2 features (strides 8, 16, 32)", "{type: mobilenet_v2}"),
    backbone("swin_t", "Swin-T features (stages 1–3)", "{type: swin, variant: tiny, drop_path: 0}"),
    language(
      "bert_base", "BERT-base encoder, random weights", tokens: 256,
      "{type: bert, hidden: 768, layers: 12, heads: 12, intermediate: 3072, max_tokens: 512}"),
    language(
      "minilm", "all-MiniLM-L6-v2's shape (6 layers, hidden 384), random weights", tokens: 256,
      "{type: bert, hidden: 384, layers: 6, heads: 12, intermediate: 1536, max_tokens: 512}"),
    BenchCase(
      name: "glip_t_b", summary: "GLIP-T (B): Swin-T, FPN, BERT-base, 6 fusion + DyHead blocks, ATSS", trains: false,
      defaults: { _ in BenchShape(train: false, batch: 1, size: 512, tokens: 32) }, flops: { _ in 0 },
      makeBody: glipTinyB),
    BenchCase(
      name: "xmha",
      summary: "one X-MHA fusion block of GLIP-T (embed 2048, 8 heads) on the FPN levels of GLIP's test size",
      trains: false, defaults: { _ in BenchShape(train: false, batch: 1, size: 800, tokens: 256, width: 1344) },
      flops: xmhaFlops, makeBody: xmha),
    official(
      "glip_t", "GLIP-T (B) as configs/glip/glip_t_b.yaml, random weights: detection (forward and post-processing)",
      config: "configs/glip/glip_t_b.yaml"),
    official(
      "glip_l", "GLIP-L as configs/glip/glip_l.yaml, random weights: detection (forward and post-processing)",
      config: "configs/glip/glip_l.yaml"),
    BenchCase(
      name: "demo", summary: "the model of configs/demo/shapes_grounding.yaml (random weights), as configured",
      trains: true, defaults: { BenchShape(train: $0, batch: 4, size: 160, tokens: 16) }, flops: { _ in 0 },
      makeBody: demo),
  ]

  /// An image backbone; forward at 1×3×512², training steps for ResNet-18 (2×320²) and MobileNetV2 (4×320²).
  static func backbone(_ name: String, _ summary: String, _ yaml: String) -> BenchCase {
    BenchCase(
      name: name, summary: summary, trains: true,
      defaults: { train in
        guard train else { return BenchShape(train: false, batch: 1, size: 512, tokens: 0) }
        return BenchShape(train: true, batch: name == "mobilenet_v2" ? 4 : 2, size: 320, tokens: 0)
      }, flops: { _ in 0 }
    ) { shape in
      let model = try Registries.backbones.build(try section(yaml, name), context: BuildContext(random: .init(seed: 0)))
      let images = Tensor.normal([shape.batch, 3, shape.size, shape.size], seed: 1)
      guard shape.train else {
        model.eval()
        return {
          withNoGrad {
            var outputs: [String: Tensor] = [:]
            for (index, feature) in model.features(images).enumerated() { outputs["feature\(index)"] = feature }
            return outputs
          }
        }
      }
      model.train()
      let optimizer = AdamW(try optimizedParameters(of: model), learningRate: 1e-4)
      let probe = model.namedParameters().first!
      return {
        // Loss: the mean square of every output map, so that every element gets a distinct gradient.
        let loss = model.features(images).map { ($0 * $0).mean() }.reduce(Tensor(scalar: 0), +)
        loss.backward()
        let result = ["loss": loss.detached(), "grad.\(probe.key)": probe.parameter.grad!]
        optimizer.step()
        optimizer.zeroGrad()
        return result
      }
    }
  }

  /// A BERT encoder over one prompt of `tokens` tokens (all attended).
  static func language(_ name: String, _ summary: String, tokens: Int, _ yaml: String) -> BenchCase {
    BenchCase(
      name: name, summary: summary, trains: false,
      defaults: { _ in BenchShape(train: false, batch: 1, size: 0, tokens: tokens) }, flops: { _ in 0 }
    ) { shape in
      let encoder = try Registries.textEncoders.build(
        try section(yaml, name), context: BuildContext(random: .init(seed: 0)))
      encoder.eval()
      let batch = promptTokens(batch: shape.batch, tokens: shape.tokens)
      return { withNoGrad { ["hidden": encoder.encode(batch).hidden] } }
    }
  }

  static func conv3x3(_ shape: BenchShape) -> () -> [String: Tensor] {
    var input = Tensor.normal([shape.batch, 256, shape.size, shape.size], seed: 1)
    var weight = Tensor.normal([256, 256, 3, 3], std: 0.02, seed: 2)
    var bias = Tensor.zeros([256])
    guard shape.train else {
      return { ["output": withNoGrad { Tensor.conv2d(input, weight: weight, bias: bias, padding: (1, 1)) }] }
    }
    input.requiresGrad = true
    weight.requiresGrad = true
    bias.requiresGrad = true
    let seed = Tensor.normal([shape.batch, 256, shape.size, shape.size], seed: 4)
    return {
      input.grad = nil
      weight.grad = nil
      bias.grad = nil
      Tensor.conv2d(input, weight: weight, bias: bias, padding: (1, 1)).backward(seed)
      return ["grad.input": input.grad!, "grad.weight": weight.grad!]
    }
  }

  /// GLIP-T (B) with random weights (drop path off): one forward with a prompt of `tokens` tokens.
  static func glipTinyB(_ shape: BenchShape) throws -> () -> [String: Tensor] {
    let detector = try Assembler.assemble(
      try section(
        """
        backbone: {type: swin, variant: tiny, drop_path: 0}
        neck: {type: fpn, channels: 256, extra_levels: 2}
        text_encoder: {type: bert}
        fusion: {type: bi_attention, embed_dim: 2048, heads: 8}
        head: {type: atss, channels: 256, blocks: 6, dyhead: true}
        """, "glip_t_b"))
    detector.eval()
    let images = Tensor.normal([shape.batch, 3, shape.size, shape.size], seed: 1)
    let tokens = promptTokens(batch: shape.batch, tokens: shape.tokens)
    return { withNoGrad { outputs(of: detector(images, tokens: tokens)) } }
  }

  /// The five FPN levels (strides 8 to 128) of a `height × width` image: each level halves the last, rounding up.
  static func pyramidSizes(height: Int, width: Int) -> [(height: Int, width: Int)] {
    var size = ((height + 7) / 8, (width + 7) / 8)
    var sizes = [size]
    for _ in 0..<4 {
      size = ((size.0 + 1) / 2, (size.1 + 1) / 2)
      sizes.append(size)
    }
    return sizes
  }

  /// Multiply-adds ×2 of the X-MHA block: six projections and the three products per head (scores and both outputs).
  static func xmhaFlops(_ shape: BenchShape) -> Double {
    let pixels = Double(pyramidSizes(height: shape.size, width: shape.imageWidth).reduce(0) { $0 + $1.0 * $1.1 })
    let (tokens, embed, visual, text) = (Double(shape.tokens), 2048.0, 256.0, 768.0)
    return Double(shape.batch) * 2 * embed * (3 * pixels * visual + 3 * tokens * text + 3 * pixels * tokens)
  }

  /// One fusion block of GLIP-T (B) (pre-norms, X-MHA, γ-scaled residuals) on random FPN levels and text features.
  static func xmha(_ shape: BenchShape) throws -> () -> [String: Tensor] {
    var generator = SeededGenerator(seed: 0)
    let fusion = BiAttentionFusion(
      visualDim: 256, textDim: 768, embedDim: 2048, heads: 8, dropout: 0.1, towerBlocks: 8, direction: .both,
      generator: &generator)
    fusion.eval()
    let levels = pyramidSizes(height: shape.size, width: shape.imageWidth).enumerated().map { index, size in
      Tensor.normal([shape.batch, 256, size.height, size.width], seed: UInt64(index + 1))
    }
    let text = TextFeatures(
      hidden: Tensor.normal([shape.batch, shape.tokens, 768], seed: 9), mask: .ones([shape.batch, shape.tokens]))
    return {
      withNoGrad {
        let (image, fused) = fusion.fuse(image: levels, text: text)
        var result = ["text": fused.hidden]
        for (index, level) in image.enumerated() { result["level\(index)"] = level }
        return result
      }
    }
  }

  /// An official GLIP architecture from its config, with random weights, detecting in one image at GLIP's test size
  /// (800×1333 padded to 800×1344) with a prompt of `tokens` tokens in phrases of three: the forward pass and the
  /// post-processing, as `glip predict` runs them.
  static func official(_ name: String, _ summary: String, config path: String) -> BenchCase {
    BenchCase(
      name: name, summary: summary, trains: false,
      defaults: { _ in BenchShape(train: false, batch: 1, size: 800, tokens: 256, width: 1344) }, flops: { _ in 0 }
    ) { shape in
      Builtins.registerAll()
      let config = try LoadedConfig(path: path, overrides: ["model.text_encoder.vocab=", "model.checkpoint_remap="])
      let detector = try CheckedExperiment(config, shapesOnly: false).detector
      detector.eval()
      let images = Tensor.normal([shape.batch, 3, shape.size, shape.imageWidth], seed: 1)
      let tokens = promptTokens(batch: shape.batch, tokens: shape.tokens)
      let phrases = stride(from: 1, to: shape.tokens - 1, by: 3).map { Array($0..<min($0 + 3, shape.tokens - 1)) }
      return {
        withNoGrad {
          let head = detector(images, tokens: tokens)
          var result = outputs(of: head)
          for image in 0..<shape.batch {
            let found = detector.head.detections(
              head, image: image, phrases: phrases, imageSize: (shape.size, shape.imageWidth))
            result["boxes\(image)"] = Tensor(shape: [found.count, 4], values: found.flatMap(\.box))
          }
          return result
        }
      }
    }
  }

  /// The demo experiment's model, with random weights in place of its pretrained files (same shapes and frozen
  /// parts), and one optimisation step (loss, backward, AdamW) on a batch of synthetic boxes and prompts.
  static func demo(_ shape: BenchShape) throws -> () -> [String: Tensor] {
    let config = try LoadedConfig(
      path: "configs/demo/shapes_grounding.yaml",
      overrides: [
        "model.backbone.weights=", "model.text_encoder.model_dir=", "model.text_encoder.hidden=384",
        "model.text_encoder.layers=6", "model.text_encoder.intermediate=1536",
      ])
    let experiment = try CheckedExperiment(config, shapesOnly: false)
    let detector = experiment.detector
    let images = Tensor.normal([shape.batch, 3, shape.size, shape.size], seed: 1)
    let tokens = promptTokens(batch: shape.batch, tokens: shape.tokens)
    let targets = (0..<shape.batch).map { index in
      let side = Float(shape.size)
      let boxes: [[Float]] = [
        [0.1, 0.1, 0.4, 0.45], [0.5, 0.2, 0.9, 0.6], [0.25 + 0.05 * Float(index), 0.55, 0.6, 0.95],
      ].map { $0.map { $0 * side } }
      var positive = [Float](repeating: 0, count: 3 * shape.tokens)
      for box in 0..<3 {
        for token in (1 + 3 * box)..<(3 + 3 * box) where token < shape.tokens {
          positive[box * shape.tokens + token] = 1
        }
      }
      return GroundingTarget(boxes: boxes, positiveMap: Tensor(shape: [3, shape.tokens], values: positive))
    }
    guard shape.train else {
      detector.eval()
      return { withNoGrad { outputs(of: detector(images, tokens: tokens)) } }
    }
    detector.train()
    let optimizer = AdamW(
      try optimizedParameters(
        of: detector, groups: experiment.tuning.parameterGroups, noDecayOnNormsAndBiases: true),
      learningRate: experiment.training.learningRate, weightDecay: experiment.training.weightDecay)
    let probe = detector.namedParameters().first { !$0.parameter.isFrozen }!
    return {
      let loss = detector.loss(images, tokens: tokens, targets: targets)["loss"]!
      loss.backward()
      let result = ["loss": loss.detached(), "grad.\(probe.key)": probe.parameter.grad!]
      optimizer.step()
      optimizer.zeroGrad()
      return result
    }
  }

  /// Deterministic word-piece ids (no vocabulary needed): `[CLS]`, ids, `[SEP]`, every token attended.
  static func promptTokens(batch: Int, tokens: Int) -> TokenBatch {
    var ids = [Float](repeating: 0, count: batch * tokens)
    for row in 0..<batch {
      for column in 0..<tokens { ids[row * tokens + column] = Float(1000 + (row * 131 + column * 37) % 20000) }
      ids[row * tokens] = 101
      ids[row * tokens + tokens - 1] = 102
    }
    return TokenBatch(ids: Tensor(shape: [batch, tokens], values: ids), attentionMask: .ones([batch, tokens]))
  }

  static func outputs(of head: HeadOutputs) -> [String: Tensor] {
    var result: [String: Tensor] = [:]
    for (index, level) in head.boxRegression.enumerated() { result["deltas\(index)"] = level }
    for (index, level) in head.centerness.enumerated() { result["centerness\(index)"] = level }
    for (index, level) in head.logits.enumerated() { result["logits\(index)"] = level }
    return result
  }

  static func section(_ yaml: String, _ file: String) throws -> ConfigSection {
    Builtins.registerAll()
    return ConfigSection(root: try YAMLParser.parse(yaml, file: "bench case \(file)"))
  }
}
