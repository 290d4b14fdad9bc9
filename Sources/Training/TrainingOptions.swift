import Config
import Detection
import NN

/// Key patterns written as one string or a list of strings.
public struct KeyPatterns: ConfigDecodable {
  public var patterns: [String]
  public static var typeDescription: String { "a pattern or a list of patterns" }
  public static func decode(_ node: ConfigNode) -> KeyPatterns? {
    if let single = String.decode(node) { return KeyPatterns(patterns: [single]) }
    return [String].decode(node).map { KeyPatterns(patterns: $0) }
  }
  public var yamlText: String { patterns.yamlText }
}

/// The `train` keys that shape which parameters learn: GLIP's tuning mode, extra patterns and parameter groups.
public struct TuningOptions {
  public enum Keys {
    public static let mode = ConfigKey<TuningMode>("mode", default: .full, "tuning preset: which parameters train")
    public static let freeze = ConfigKey<[String]>("freeze", default: [], "key patterns to freeze after the preset")
    public static let unfreeze = ConfigKey<[String]>("unfreeze", default: [], "key patterns to unfreeze after freezing")
    public static let match = ConfigKey<KeyPatterns>("match", "key patterns of the group (a string or a list)")
    public static let lrMult = ConfigKey<Float>("lr_mult", default: 1, "learning-rate multiplier of the group")
    public static let decayMult = ConfigKey<Float>("decay_mult", default: 1, "weight-decay multiplier of the group")
    public static let all: [KeyDocumentation] = [
      mode.documentation, freeze.documentation, unfreeze.documentation,
      KeyDocumentation(
        name: "param_groups", type: "a list of mappings", defaultText: "[]",
        doc: "per-pattern multipliers: [{match, lr_mult, decay_mult}]; the first matching group wins"),
    ]
    public static let groupKeys: [KeyDocumentation] = [
      match.documentation, lrMult.documentation, decayMult.documentation,
    ]
  }

  public var mode: TuningMode
  public var freeze: [String]
  public var unfreeze: [String]
  public var parameterGroups: [ParameterGroupRule]

  public init(_ train: ConfigSection) throws {
    mode = try train.read(Keys.mode)
    freeze = try train.read(Keys.freeze)
    unfreeze = try train.read(Keys.unfreeze)
    parameterGroups = try train.sections("param_groups").map { group in
      ParameterGroupRule(
        match: try group.read(Keys.match).patterns, lrMult: try group.read(Keys.lrMult),
        decayMult: try group.read(Keys.decayMult))
    }
  }

  /// Applies the preset and patterns; errors name the config position of the offending list.
  public func apply(to model: Module, train: ConfigSection) throws {
    do {
      try mode.apply(to: model, freeze: freeze, unfreeze: unfreeze)
    } catch let error as TuningError {
      throw train.error("mode", error.description)
    } catch let error as ModuleError {
      let key = freeze.contains { error.description.contains("'\($0)'") } ? "freeze" : "unfreeze"
      throw train.error(key, error.description)
    }
    for (index, group) in parameterGroups.enumerated() {
      do {
        _ = try model.parameters(matching: group.patterns)
      } catch {
        throw ConfigError(
          "train.param_groups[\(index)].match: \(error)", at: train.node?["param_groups"]?.items?[index].mark)
      }
    }
  }
}

/// The optimizer of a training run.
public enum OptimizerKind: String, ConfigEnum, Sendable {
  /// Adam with decoupled weight decay, as GLIP trains.
  case adamw
  /// SGD with momentum and coupled weight decay, as MMDetection's and detectron2's detector recipes train.
  case sgd
}

/// The `train` keys of the optimisation loop.
public struct TrainingOptions {
  public enum Keys {
    public static let batchSize = ConfigKey<Int>("batch_size", default: 4, range: 1...4096, "images per step")
    public static let iterations = ConfigKey<Int>("iterations", default: 100, "optimisation steps")
    public static let optimizer = ConfigKey<OptimizerKind>(
      "optimizer", default: .adamw, "adamw (decoupled weight decay) or sgd (momentum, coupled weight decay)")
    public static let learningRate = ConfigKey<Float>("lr", default: 1e-3, "base learning rate")
    public static let weightDecay = ConfigKey<Float>(
      "weight_decay", default: 0.05, "weight decay (AdamW: decoupled; SGD: added to the gradient)")
    public static let momentum = ConfigKey<Float>("momentum", default: 0.9, "SGD momentum (sgd only)")
    public static let warmup = ConfigKey<Int>("warmup", default: 20, "linear warm-up steps")
    public static let clipNorm = ConfigKey<Float>("clip_grad_norm", default: 10, "global gradient-norm clip (0: off)")
    public static let seed = ConfigKey<Int>("seed", default: 0, "seed for sampling and augmentation")
    public static let logEvery = ConfigKey<Int>("log_every", default: 10, "steps between printed progress lines")
    public static let checkpointEvery = ConfigKey<Int>(
      "checkpoint_every", default: 0, "steps between resumable checkpoints (0: only the final model)")
    public static let keepCheckpoints = ConfigKey<Int>(
      "keep_checkpoints", default: 3, "resumable step checkpoints kept, newest first (0: keep all)")
    public static let evalEvery = ConfigKey<Int>(
      "eval_every", default: 0,
      "steps between evaluations on data.val, logged to metrics.jsonl; the best (AP for coco, R@1 for odvg) is "
        + "saved as checkpoints/best.safetensors (0: no evaluation, no best)")
    public static let prefetchBatches = ConfigKey<Int>(
      "prefetch_batches", default: 1, range: 0...16,
      "batches decoded and resized on a background thread ahead of the step (0: on the training thread); the "
        + "batches and results are the same either way")
    public static let all: [KeyDocumentation] = [
      batchSize.documentation, iterations.documentation, optimizer.documentation, learningRate.documentation,
      weightDecay.documentation, momentum.documentation,
      warmup.documentation, clipNorm.documentation, seed.documentation, logEvery.documentation,
      checkpointEvery.documentation, keepCheckpoints.documentation, evalEvery.documentation,
      prefetchBatches.documentation,
    ]
  }

  public var batchSize: Int, iterations: Int, optimizer: OptimizerKind, learningRate: Float, weightDecay: Float
  public var momentum: Float, warmup: Int
  public var clipNorm: Float, seed: Int, logEvery: Int, checkpointEvery: Int
  public var keepCheckpoints: Int, evalEvery: Int
  /// `prefetch_batches`: how many batches are built ahead in the background (0: none).
  public var prefetchBatches: Int

  public init(_ train: ConfigSection) throws {
    batchSize = try train.read(Keys.batchSize)
    iterations = try train.read(Keys.iterations)
    optimizer = try train.read(Keys.optimizer)
    learningRate = try train.read(Keys.learningRate)
    weightDecay = try train.read(Keys.weightDecay)
    momentum = try train.read(Keys.momentum)
    warmup = try train.read(Keys.warmup)
    clipNorm = try train.read(Keys.clipNorm)
    seed = try train.read(Keys.seed)
    logEvery = try train.read(Keys.logEvery)
    checkpointEvery = try train.read(Keys.checkpointEvery)
    keepCheckpoints = try train.read(Keys.keepCheckpoints)
    evalEvery = try train.read(Keys.evalEvery)
    prefetchBatches = try train.read(Keys.prefetchBatches)
    guard keepCheckpoints >= 0 else {
      throw train.error("keep_checkpoints", "expected a non-negative count, got \(keepCheckpoints)")
    }
    guard evalEvery >= 0 else { throw train.error("eval_every", "expected a non-negative count, got \(evalEvery)") }
    guard batchSize > 0 else { throw train.error("batch_size", "expected a positive count, got \(batchSize)") }
    guard iterations >= 0 else { throw train.error("iterations", "expected a non-negative count, got \(iterations)") }
    guard learningRate > 0 else { throw train.error("lr", "expected a positive learning rate, got \(learningRate)") }
    guard (0..<1).contains(momentum) else {
      throw train.error("momentum", "expected 0 ≤ momentum < 1, got \(momentum)")
    }
    if optimizer == .adamw, train.contains(Keys.momentum.name) {
      throw train.error("momentum", "applies to optimizer: sgd only (AdamW's moments use fixed betas)")
    }
  }
}
