import Config
import Datasets
import Detection
import Training

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
  /// `model.checkpoint_remap`: the remap table for PyTorch checkpoints, or nil.
  public let checkpointRemap: String?
  /// `model.checkpoint`: the weights training starts from, or nil.
  public let initialCheckpoint: String?

  public init(_ config: LoadedConfig, shapesOnly: Bool = true) throws {
    Builtins.registerAll()
    let usage = ConfigUsage()
    let root = ConfigSection(root: config.root, usage: usage)
    var sections: [String: ConfigSection] = [:]
    for name in CheckedExperiment.sections { sections[name] = try root.section(name) }
    _ = root.rawNode(CheckedExperiment.ablationSection)  // read and checked by `glip ablate`, not by an experiment
    guard sections["model"]?.node != nil else { throw ConfigError("\(config.path): no 'model' section") }
    detector = try Assembler.assemble(sections["model"]!, shapesOnly: shapesOnly)
    let remap = try sections["model"]!.read(Assembler.Keys.checkpointRemap)
    checkpointRemap = remap.isEmpty ? nil : remap
    let initial = try sections["model"]!.read(Assembler.Keys.checkpoint)
    initialCheckpoint = initial.isEmpty ? nil : initial
    tuning = try TuningOptions(sections["train"]!)
    if tuning.mode.trainablePatterns?.contains("prompt_offset") == true { detector.addPromptOffset() }
    try tuning.apply(to: detector, train: sections["train"]!)
    training = try TrainingOptions(sections["train"]!)
    var data = try DataOptions(sections["data"]!)
    for index in data.trainSources.indices where data.trainSources[index].shotSeed == nil {
      data.trainSources[index].shotSeed = training.seed
    }
    self.data = data
    for source in data.trainSources + [data.val] where source.isSet { _ = try DatasetFormats.format(of: source) }
    let unknown = usage.unknownKeys(in: config.root)
    if !unknown.isEmpty { throw ConfigErrors(unknown) }
  }
}
