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
    public static let shots = ConfigKey<Int>(
      "shots", default: 0, range: 0...100_000,
      "training sources with categories (coco): keep a few-shot split of k images per category, an image counting "
        + "for every category it holds, as GLIP's few-shot protocol (0: every record)")
    public static let shotSeed = ConfigKey<Int>(
      "shot_seed", range: 0...Int(Int32.max),
      "the seed of the few-shot split's shuffle (0: the file's order, as GLIP's shuffle_seed 0; default: train.seed, "
        + "so each seed of an ablation draws its own split)")
    public static let categoryGroups = KeyDocumentation(
      name: "category_groups", type: "a mapping of names to lists of category names", defaultText: "none",
      doc: "validation sources with categories (coco): named subsets whose AP, AP50 and AR100 are reported beside "
        + "the overall ones as AP[name], … (as LVIS reports its rare categories)")
    public static let all: [KeyDocumentation] = [
      format.documentation, annotations.documentation, images.documentation, repeatCount.documentation,
      shots.documentation, shotSeed.documentation, categoryGroups,
    ]
  }

  /// The dataset format's registered name.
  public var format: String
  public var annotations: String, images: String
  /// How many times the records appear in a mixed training set (1 for `data.val`).
  public var repeatCount: Int
  /// Images per category of a few-shot split (0: every record), and the seed of its shuffle.
  public var shots: Int, shotSeed: Int?
  /// Category subsets scored apart (validation sources).
  public var categoryGroups: [CategoryGroup]
  /// Where the section sits, for error messages (`data.train`).
  public var name: String
  /// `data.on_bad_record`, which applies to both sources.
  public var onBadRecord: BadRecordPolicy = .fail
  /// `data.exif_orientation`, which applies to both sources.
  public var exifOrientation = true
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
    shots = try section.read(Keys.shots)
    shotSeed = try section.readOptional(Keys.shotSeed)
    guard training || shots == 0 else {
      throw section.error(Keys.shots.name, "applies to training sources only; evaluation reads every record")
    }
    categoryGroups = try CategoryGroup.read(section, key: Keys.categoryGroups.name)
    guard !training || categoryGroups.isEmpty else {
      throw section.error(Keys.categoryGroups.name, "applies to validation sources only; training has no scores")
    }
  }
}

/// The `data` keys: where training and validation records come from and how images are sized.
public struct DataOptions {
  public enum Keys {
    public static let imageSize = ConfigKey<Int>(
      "image_size", default: 320, range: 32...8192, "images are resized to this square side")
    public static let minSize = ConfigKey<[Int]>(
      "min_size", default: [],
      "aspect-preserving sizing (GLIP's rule, with max_size): the shorter side; a list draws one per training image "
        + "(multi-scale, GLIP: 480…800) and evaluation and prediction use the largest; empty: the image_size square")
    public static let maxSize = ConfigKey<Int>(
      "max_size", default: 1333, "with min_size: the longest the longer side may become (GLIP: 1333)")
    public static let sizeDivisibility = ConfigKey<Int>(
      "size_divisibility", default: 32, "with min_size: batches are zero-padded to a multiple of this")
    public static let resample = ConfigKey<ImageSizing.Resample>(
      "resample", default: .interpolate,
      "interpolate: bilinear on the normalised tensor; pil_bilinear: Pillow's antialiased bilinear on the 8-bit "
        + "image, as GLIP's loader (official checkpoints)")
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
    public static let exifOrientation = ConfigKey<Bool>(
      "exif_orientation", default: true,
      "apply a photo's EXIF orientation (phones store pictures rotated) when decoding, in training, evaluation and "
        + "prediction; a COCO record's width and height are checked against the oriented size. false: the pixels as "
        + "stored, as GLIP's own loader reads them")
    public static let all: [KeyDocumentation] = [
      KeyDocumentation(
        name: "train", type: "a mapping or a list of mappings", defaultText: "none",
        doc: "training records (`glip train`); a list mixes sources (e.g. ODVG captions and COCO detection)"),
      KeyDocumentation(name: "val", type: "a mapping", defaultText: "none", doc: "evaluation records (`glip eval`)"),
      imageSize.documentation, minSize.documentation, maxSize.documentation, sizeDivisibility.documentation,
      resample.documentation, multiScale.documentation, flip.documentation, samplePrompts.documentation,
      onBadRecord.documentation, exifOrientation.documentation,
    ]
  }

  /// Every training source, in config order.
  public var trainSources: [DataSource]
  /// The first training source (the only one when `data.train` is a mapping).
  public var train: DataSource { trainSources[0] }
  public var val: DataSource, imageSize: Int, flip: Bool, samplePrompts: Bool
  public var multiScale: [Int]
  public var onBadRecord: BadRecordPolicy
  /// Whether decoding applies the EXIF orientation.
  public var exifOrientation: Bool
  /// How evaluation and prediction size images.
  public var sizing: ImageSizing
  /// `min_size`: the shorter sides training images are drawn to (empty with square sizing).
  public var trainingSides: [Int]

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
    exifOrientation = try data.read(Keys.exifOrientation)
    for index in trainSources.indices {
      trainSources[index].onBadRecord = onBadRecord
      trainSources[index].exifOrientation = exifOrientation
    }
    val.onBadRecord = onBadRecord
    val.exifOrientation = exifOrientation
    guard imageSize >= 32 else { throw data.error("image_size", "expected at least 32, got \(imageSize)") }
    sizing = try DataOptions.sizing(data, imageSize: imageSize)
    trainingSides = try data.read(Keys.minSize)
  }

  /// `min_size`, `max_size`, `size_divisibility` and `resample`, checked.
  static func sizing(_ data: ConfigSection, imageSize: Int) throws -> ImageSizing {
    let (minSize, maxSize) = (try data.read(Keys.minSize), try data.read(Keys.maxSize))
    let divisibility = try data.read(Keys.sizeDivisibility)
    if let side = minSize.first(where: { $0 < 16 || $0 > 8192 }) {
      throw data.error("min_size", "expected sides between 16 and 8192, got \(side)")
    }
    if !minSize.isEmpty && data.contains(Keys.multiScale.name) {
      throw data.error("multi_scale", "square multi-scale sides; with min_size, list the shorter sides there instead")
    }
    guard (16...16384).contains(maxSize), maxSize >= (minSize.max() ?? 0) else {
      throw data.error("max_size", "expected 16…16384 and at least min_size, got \(maxSize)")
    }
    guard (1...512).contains(divisibility) else {
      throw data.error("size_divisibility", "expected 1…512, got \(divisibility)")
    }
    return ImageSizing(
      square: minSize.isEmpty ? imageSize : nil, shorterSide: minSize.max() ?? imageSize, maxSize: maxSize,
      divisibility: divisibility, resample: try data.read(Keys.resample),
      exifOrientation: try data.read(Keys.exifOrientation))
  }
}

extension BadRecordPolicy: ConfigEnum {}
