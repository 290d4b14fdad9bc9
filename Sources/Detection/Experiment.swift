import Config
import Foundation
import NN

/// A config file resolved with its bases and overrides, plus the notes the overrides produced.
public struct LoadedConfig {
  public var path: String
  public var root: ConfigNode
  public var notes: [String]

  /// Loads `path`, merges `_base_` files and applies `--set` overrides.
  public init(path: String, overrides: [String] = []) throws {
    guard FileManager.default.fileExists(atPath: path) else { throw ConfigError("config file not found: \(path)") }
    self.path = path
    let parsed = try ConfigLoader.load(path: path)
    (root, notes) = try parsed.applying(try overrides.map(ConfigOverride.init(parsing:)))
  }

  /// A config held as text (a checkpoint's resolved config); `displayPath` names it in errors. The text must be
  /// resolved already: `_base_` is not followed.
  public init(text: String, displayPath: String, overrides: [String] = []) throws {
    path = displayPath
    let parsed = try YAMLParser.parse(text, file: displayPath)
    guard parsed.entries != nil else {
      throw ConfigError("a config must be a mapping at the top level, got \(parsed.kindDescription)", at: parsed.mark)
    }
    (root, notes) = try parsed.applying(try overrides.map(ConfigOverride.init(parsing:)))
  }
}

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

/// The `train` keys of the optimisation loop.
public struct TrainingOptions {
  public enum Keys {
    public static let batchSize = ConfigKey<Int>("batch_size", default: 4, "images per step")
    public static let iterations = ConfigKey<Int>("iterations", default: 100, "optimisation steps")
    public static let learningRate = ConfigKey<Float>("lr", default: 1e-3, "base learning rate (AdamW)")
    public static let weightDecay = ConfigKey<Float>("weight_decay", default: 0.05, "AdamW decoupled weight decay")
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
    public static let all: [KeyDocumentation] = [
      batchSize.documentation, iterations.documentation, learningRate.documentation, weightDecay.documentation,
      warmup.documentation, clipNorm.documentation, seed.documentation, logEvery.documentation,
      checkpointEvery.documentation, keepCheckpoints.documentation, evalEvery.documentation,
    ]
  }

  public var batchSize: Int, iterations: Int, learningRate: Float, weightDecay: Float, warmup: Int
  public var clipNorm: Float, seed: Int, logEvery: Int, checkpointEvery: Int
  public var keepCheckpoints: Int, evalEvery: Int

  public init(_ train: ConfigSection) throws {
    batchSize = try train.read(Keys.batchSize)
    iterations = try train.read(Keys.iterations)
    learningRate = try train.read(Keys.learningRate)
    weightDecay = try train.read(Keys.weightDecay)
    warmup = try train.read(Keys.warmup)
    clipNorm = try train.read(Keys.clipNorm)
    seed = try train.read(Keys.seed)
    logEvery = try train.read(Keys.logEvery)
    checkpointEvery = try train.read(Keys.checkpointEvery)
    keepCheckpoints = try train.read(Keys.keepCheckpoints)
    evalEvery = try train.read(Keys.evalEvery)
    guard keepCheckpoints >= 0 else {
      throw train.error("keep_checkpoints", "expected a non-negative count, got \(keepCheckpoints)")
    }
    guard evalEvery >= 0 else { throw train.error("eval_every", "expected a non-negative count, got \(evalEvery)") }
    guard batchSize > 0 else { throw train.error("batch_size", "expected a positive count, got \(batchSize)") }
    guard iterations >= 0 else { throw train.error("iterations", "expected a non-negative count, got \(iterations)") }
    guard learningRate > 0 else { throw train.error("lr", "expected a positive learning rate, got \(learningRate)") }
  }
}

/// One annotation source: `data.train` or `data.val`.
public struct DataSource: Sendable {
  public enum Format: String, ConfigEnum, Sendable { case odvg, coco }
  public enum Keys {
    public static let format = ConfigKey<Format>("format", default: .odvg, "odvg (captions) or coco (class prompts)")
    public static let annotations = ConfigKey<String>(
      "annotations", default: "", "annotation file (path from the working directory)")
    public static let images = ConfigKey<String>("images", default: "", "folder the record file names are relative to")
    public static let repeatCount = ConfigKey<Int>(
      "repeat", default: 1,
      "training sources only: how many times the records appear in one pass over the mix, to weight the sources "
        + "(a dataset ratio)")
    public static let all: [KeyDocumentation] = [
      format.documentation, annotations.documentation, images.documentation, repeatCount.documentation,
    ]
  }

  public var format: Format, annotations: String, images: String
  /// How many times the records appear in a mixed training set (1 for `data.val`).
  public var repeatCount: Int
  /// Where the section sits, for error messages (`data.train`).
  public var name: String
  /// `data.on_bad_record`, which applies to both sources.
  public var onBadRecord: DataOptions.BadRecordAction = .fail
  public var isSet: Bool { !annotations.isEmpty }

  init(_ section: ConfigSection, name: String, training: Bool) throws {
    self.name = name
    format = try section.read(Keys.format)
    annotations = try section.read(Keys.annotations)
    images = try section.read(Keys.images)
    repeatCount = try section.read(Keys.repeatCount)
    guard repeatCount >= 1 else {
      throw section.error(Keys.repeatCount.name, "expected at least 1, got \(repeatCount)")
    }
    guard training || repeatCount == 1 else {
      throw section.error(Keys.repeatCount.name, "applies to training sources only; evaluation reads each record once")
    }
  }
}

/// The `data` keys: where training and validation records come from and how images are sized.
public struct DataOptions {
  public enum Keys {
    public static let imageSize = ConfigKey<Int>("image_size", default: 320, "images are resized to this square side")
    public static let flip = ConfigKey<Bool>(
      "flip", default: true, "random horizontal flips in training (captions swap left/right)")
    public static let multiScale = ConfigKey<[Int]>(
      "multi_scale", default: [],
      "multi-scale training: each batch is resized to a side drawn from this list (empty: image_size); evaluation "
        + "and prediction use image_size")
    public static let samplePrompts = ConfigKey<Bool>(
      "sample_prompts", default: true,
      "detection data in training: each image's prompt holds its own classes and a random number of other classes, "
        + "shuffled (GLIP); false: the fixed all-class prompt")
    public static let onBadRecord = ConfigKey<BadRecordAction>(
      "on_bad_record", default: .fail,
      "a record with a missing image, malformed JSON or a box outside its image: fail (stop, naming the file and "
        + "record index) or skip (leave it out and report how many were skipped)")
    public static let all: [KeyDocumentation] = [
      KeyDocumentation(
        name: "train", type: "a mapping or a list of mappings", defaultText: "none",
        doc: "training records (`glip train`); a list mixes sources (e.g. ODVG captions and COCO detection)"),
      KeyDocumentation(name: "val", type: "a mapping", defaultText: "none", doc: "evaluation records (`glip eval`)"),
      imageSize.documentation, multiScale.documentation, flip.documentation, samplePrompts.documentation,
      onBadRecord.documentation,
    ]
  }

  /// What loaders do with an unusable record.
  public enum BadRecordAction: String, ConfigEnum, Sendable { case fail, skip }

  /// Every training source, in config order.
  public var trainSources: [DataSource]
  /// The first training source (the only one when `data.train` is a mapping).
  public var train: DataSource { trainSources[0] }
  public var val: DataSource, imageSize: Int, flip: Bool, samplePrompts: Bool
  public var multiScale: [Int]
  public var onBadRecord: BadRecordAction

  public init(_ data: ConfigSection) throws {
    if let items = data.node?["train"]?.items {
      guard !items.isEmpty else { throw data.error("train", "expected at least one source in the list") }
      trainSources = try data.sections("train").enumerated().map {
        try DataSource($0.element, name: "data.train[\($0.offset)]", training: true)
      }
    } else {
      trainSources = [try DataSource(data.section("train"), name: "data.train", training: true)]
    }
    val = try DataSource(data.section("val"), name: "data.val", training: false)
    imageSize = try data.read(Keys.imageSize)
    flip = try data.read(Keys.flip)
    samplePrompts = try data.read(Keys.samplePrompts)
    multiScale = try data.read(Keys.multiScale)
    if let small = multiScale.first(where: { $0 < 32 }) {
      throw data.error("multi_scale", "expected sides of at least 32, got \(small)")
    }
    onBadRecord = try data.read(Keys.onBadRecord)
    for index in trainSources.indices { trainSources[index].onBadRecord = onBadRecord }
    val.onBadRecord = onBadRecord
    guard imageSize >= 32 else { throw data.error("image_size", "expected at least 32, got \(imageSize)") }
  }
}

/// Everything `glip config check` verifies: the model assembles (from shapes), the training options apply to it,
/// and no key is left unread.
public struct CheckedExperiment {
  public static let sections = ["model", "data", "train", "eval"]
  /// The optional section with an ablation's grid: an experiment ignores it.
  public static let ablationSection = "ablation"

  public let detector: GroundingDetector
  public let tuning: TuningOptions
  public let training: TrainingOptions
  public let data: DataOptions

  public init(_ config: LoadedConfig, shapesOnly: Bool = true) throws {
    let usage = ConfigUsage()
    let root = ConfigSection(root: config.root, usage: usage)
    var sections: [String: ConfigSection] = [:]
    for name in CheckedExperiment.sections { sections[name] = try root.section(name) }
    _ = root.rawNode(CheckedExperiment.ablationSection)  // read and checked by `glip ablate`, not by an experiment
    guard sections["model"]?.node != nil else { throw ConfigError("\(config.path): no 'model' section") }
    detector = try Assembler.assemble(sections["model"]!, shapesOnly: shapesOnly)
    tuning = try TuningOptions(sections["train"]!)
    try tuning.apply(to: detector, train: sections["train"]!)
    training = try TrainingOptions(sections["train"]!)
    data = try DataOptions(sections["data"]!)
    let unknown = usage.unknownKeys(in: config.root)
    if !unknown.isEmpty { throw ConfigErrors(unknown) }
  }
}
