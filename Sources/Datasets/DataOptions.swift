import Config

/// One annotation source: `data.train` or `data.val`.
public struct DataSource: Sendable {
  public enum Keys {
    public static let format = ConfigKey<String>(
      "format", default: "odvg", "a registered dataset format (see Dataset formats below): odvg, coco, …")
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

  /// The dataset format's registered name.
  public var format: String
  public var annotations: String, images: String
  /// How many times the records appear in a mixed training set (1 for `data.val`).
  public var repeatCount: Int
  /// Where the section sits, for error messages (`data.train`).
  public var name: String
  /// `data.on_bad_record`, which applies to both sources.
  public var onBadRecord: BadRecordPolicy = .fail
  /// Where `format` was written (or the section), for errors about it.
  public var formatMark: SourceMark?
  public var isSet: Bool { !annotations.isEmpty }

  /// An error about this source's `format`, placed where it was written.
  public func formatError(_ message: String) -> ConfigError {
    ConfigError("\(name).format: \(message)", at: formatMark)
  }

  init(_ section: ConfigSection, name: String, training: Bool) throws {
    self.name = name
    format = try section.read(Keys.format)
    formatMark = section.mark(of: Keys.format.name)
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
    public static let imageSize = ConfigKey<Int>(
      "image_size", default: 320, range: 32...8192, "images are resized to this square side")
    public static let flip = ConfigKey<Bool>(
      "flip", default: true, "random horizontal flips in training (captions swap left/right)")
    public static let multiScale = ConfigKey<[Int]>(
      "multi_scale", default: [], range: 32...8192,
      "multi-scale training: each batch is resized to a side drawn from this list (empty: image_size); evaluation "
        + "and prediction use image_size")
    public static let samplePrompts = ConfigKey<Bool>(
      "sample_prompts", default: true,
      "detection data in training: each image's prompt holds its own classes and a random number of other classes, "
        + "shuffled (GLIP); false: the fixed all-class prompt")
    public static let onBadRecord = ConfigKey<BadRecordPolicy>(
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

  /// Every training source, in config order.
  public var trainSources: [DataSource]
  /// The first training source (the only one when `data.train` is a mapping).
  public var train: DataSource { trainSources[0] }
  public var val: DataSource, imageSize: Int, flip: Bool, samplePrompts: Bool
  public var multiScale: [Int]
  public var onBadRecord: BadRecordPolicy

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
    onBadRecord = try data.read(Keys.onBadRecord)
    for index in trainSources.indices { trainSources[index].onBadRecord = onBadRecord }
    val.onBadRecord = onBadRecord
  }
}

extension BadRecordPolicy: ConfigEnum {}
