import Config
import Foundation
import Imaging
import TensorCore

/// A downstream transfer task of the synthetic data: a small COCO detection dataset that brings something the
/// pre-training data (``SyntheticShapes``) never showed — new shapes, new colour words, fill patterns, real photos
/// behind the shapes — to measure how a pre-trained grounding model transfers, zero-shot or from a few examples.
///
/// A task's ``categories`` are its words, and the words are the prompt: a detection prompt joins them with ". ".
/// Images are square, hold 1–5 objects of radius 6–16 % of the side, and each is drawn from a random stream of its
/// own, so image `index` is the same whatever else is written. ``SyntheticTasks/all`` registers the built-in tasks;
/// ``SyntheticTaskWriter`` writes one to a folder.
///
/// ```swift
/// let task = try SyntheticTasks.make(name: "new_shapes", size: 128)
/// let sample = try task.sample(index: 0, seed: 1)  // sample.objects[0].category indexes task.categories
/// ```
public protocol SyntheticTask: Sendable {
  /// The name `glip data synth --task` takes, in snake case.
  static var name: String { get }
  /// One line saying what the task brings that the pre-training did not.
  static var summary: String { get }
  /// Whether the task draws on photos from `--backgrounds` (and cannot run without them).
  static var takesBackgrounds: Bool { get }

  /// The task for square images of side `size`; `backgrounds` is a folder of photos, for tasks that take them.
  init(size: Int, backgrounds: String?) throws

  /// The image side in pixels.
  var size: Int { get }
  /// The category names, in category-id order (ids count from 1).
  var categories: [String] { get }
  /// Image `index` of the dataset with `seed`, independent of the other images.
  func sample(index: Int, seed: UInt64) throws -> SyntheticTaskSample
}

extension SyntheticTask {
  /// Tasks draw on the synthetic texture unless they say otherwise.
  public static var takesBackgrounds: Bool { false }

  /// The random stream of image `index`: the pre-training's per-image seed mixed with a hash of the task's name, so
  /// the tasks and the pre-training data do not share their draws.
  func randomStream(index: Int, seed: UInt64) -> SeededGenerator {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a, stable across runs (unlike `Hasher`)
    for byte in Self.name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
    return SeededGenerator(seed: (seed &* 0x9E37_79B9 &+ UInt64(index)) ^ hash)
  }
}

/// One image of a transfer task and its annotated objects.
public struct SyntheticTaskSample: Sendable {
  /// One annotated object: its category (an index into ``SyntheticTask/categories``) and where it is drawn.
  public struct Object: Sendable {
    /// The index of the object's category in ``SyntheticTask/categories``.
    public var category: Int
    /// Where the object is drawn; `shape.box` is its annotated box.
    public var shape: PlacedShape
  }

  /// The square image, `size` × `size`.
  public var image: RGBImage
  /// The objects in the order they were painted (a later one may cover part of an earlier one).
  public var objects: [Object]
}

/// The registry of transfer tasks.
public enum SyntheticTasks {
  /// The built-in tasks, in the order `--list-tasks` prints them.
  public static let all: [any SyntheticTask.Type] = [
    NewShapesTask.self, NewColoursTask.self, PatternsTask.self, PhotoBackgroundsTask.self,
  ]

  /// The name of the pre-training data, `glip data synth`'s default, which is not a ``SyntheticTask``: it writes
  /// two category sets and grounding captions (``SyntheticDatasetWriter``).
  public static let pretraining = "pretraining"

  /// The task type called `name`; an unknown name is an error listing the known ones, with a did-you-mean.
  public static func named(_ name: String) throws -> any SyntheticTask.Type {
    if let task = all.first(where: { $0.name == name }) { return task }
    let names = [pretraining] + all.map { $0.name }
    let suggestion = ConfigUsage.closest(name, among: names).map { "did you mean '\($0)'? " } ?? ""
    throw SyntheticDataError(
      "unknown synthetic task '\(name)'; \(suggestion)known tasks: " + names.joined(separator: ", "))
  }

  /// The task called `name` for images of side `size`, after checking the size and that `backgrounds` is given
  /// exactly when the task takes it.
  public static func make(name: String, size: Int, backgrounds: String? = nil) throws -> any SyntheticTask {
    let task = try named(name)
    try SyntheticDatasetWriter.checkSize(size)
    if let backgrounds, !task.takesBackgrounds {
      throw SyntheticDataError(
        "--backgrounds \(backgrounds) applies only to tasks drawn on photos ("
          + all.filter { $0.takesBackgrounds }.map { $0.name }.joined(separator: ", ") + "), not to \(name)")
    }
    return try task.init(size: size, backgrounds: backgrounds)
  }

  /// One line per task, the pre-training data first: its name and what it brings.
  public static var listing: String {
    let rows =
      [(pretraining + " (default)", SyntheticDatasetWriter.summary)] + all.map { ($0.name, $0.summary) }
    let width = rows.map(\.0.count).max() ?? 0
    return rows.map { $0.0.padding(toLength: width + 2, withPad: " ", startingAt: 0) + $0.1 }
      .joined(separator: "\n")
  }
}

/// Colours and shapes for the transfer tasks.
extension SyntheticTask {
  /// An index below `count` from the stream.
  static func pick(_ count: Int, _ random: inout SeededGenerator) -> Int { Int(random.next() % UInt64(count)) }

  /// An index below `count` other than `index`, uniformly.
  static func other(than index: Int, of count: Int, _ random: inout SeededGenerator) -> Int {
    (index + 1 + pick(count - 1, &random)) % count
  }

  /// The shade factor of a solid shape, as the pre-training draws them (0.85–1.15).
  static func shade(_ random: inout SeededGenerator) -> Float { 0.85 + 0.3 * random.nextUnitFloat() }
}

/// How a transfer task paints a shape: one colour, or a pattern of two.
enum ShapeFill: Sendable {
  case solid((UInt8, UInt8, UInt8))
  /// `ink` on `ground`, the pattern turned by `angle` (radians), repeating every half radius (at least 4 pixels),
  /// so every shape shows about four repeats across.
  case pattern(FillPattern, ink: (UInt8, UInt8, UInt8), ground: (UInt8, UInt8, UInt8), angle: Float)

  /// The colour of pixel (x, y) of `shape`.
  func colour(x: Int, y: Int, of shape: PlacedShape) -> (UInt8, UInt8, UInt8) {
    switch self {
    case .solid(let colour): return colour
    case .pattern(let pattern, let ink, let ground, let angle):
      let period = max(4, shape.radius / 2)
      let (dx, dy) = (Float(x) + 0.5 - shape.centre.x, Float(y) + 0.5 - shape.centre.y)
      let (cosine, sine) = (cos(angle), sin(angle))
      let (u, v) = ((dx * cosine + dy * sine) / period, (dy * cosine - dx * sine) / period)
      return pattern.isInk(u: u, v: v) ? ink : ground
    }
  }
}

extension SyntheticTask {
  /// Places and paints 1–5 shapes on `image` with the canvas's rules; `propose` picks each one's category, outline
  /// and fill from those placed so far (nil skips a try).
  func compose(
    on image: inout RGBImage, _ random: inout SeededGenerator,
    propose: (inout SeededGenerator, [(kind: (category: Int, fill: ShapeFill), shape: PlacedShape)]) -> (
      category: Int, outline: ShapeOutline, fill: ShapeFill
    )?
  ) -> [SyntheticTaskSample.Object] {
    let canvas = SyntheticCanvas(size: size)
    let count = 1 + Self.pick(5, &random)
    let placed = canvas.place(count: count, &random) { random, placed in
      propose(&random, placed).map { proposal in ((proposal.category, proposal.fill), proposal.outline) }
    }
    for (kind, shape) in placed {
      canvas.paint(shape, on: &image) { x, y in kind.fill.colour(x: x, y: y, of: shape) }
    }
    return placed.map { SyntheticTaskSample.Object(category: $0.kind.category, shape: $0.shape) }
  }
}
