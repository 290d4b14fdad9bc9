import Datasets
import Detection
import Foundation
import Imaging
import Language
import TensorCore

/// Turns grounding records into model inputs: images resized in the backbone's pixel format — to a square, or by
/// GLIP's aspect-preserving rule with a shorter side drawn per image and the batch zero-padded, each target knowing
/// its valid region — with seeded horizontal flips that also swap "left" and "right" in captions, prompts tokenised by
/// the text encoder, and binary positive maps from the phrase spans.
public struct BatchBuilder {
  public let records: [GroundingRecord]
  public let encoder: any TextEncoder
  public let pixelFormat: PixelFormat
  public let imageSize: Int
  public let flip: Bool
  /// Detection records get GLIP's sampled prompts (their classes plus random others, shuffled) instead of the fixed
  /// all-class prompt.
  public let samplePrompts: Bool
  /// Multi-scale training: each batch is resized to a side drawn from these (empty: always `imageSize`).
  public let scales: [Int]
  /// How images are sized: `imageSize` squares (`sizing.square`), or aspect-preserving with `trainingSides`.
  public let sizing: ImageSizing
  /// With aspect-preserving sizing, the shorter sides drawn from for each image (empty: `sizing.shorterSide`).
  public let trainingSides: [Int]

  public init(
    records: [GroundingRecord], encoder: any TextEncoder, pixelFormat: PixelFormat, imageSize: Int, flip: Bool,
    samplePrompts: Bool = false, scales: [Int] = [], sizing: ImageSizing? = nil, trainingSides: [Int] = []
  ) {
    self.samplePrompts = samplePrompts
    self.scales = scales
    self.sizing = sizing ?? ImageSizing(square: imageSize)
    self.trainingSides = trainingSides
    self.records = records
    self.encoder = encoder
    self.pixelFormat = pixelFormat
    self.imageSize = imageSize
    self.flip = flip
  }

  public struct Batch {
    public var images: Tensor
    public var tokens: TokenBatch
    public var targets: [GroundingTarget]
  }

  /// The batch of `indices`; `random` decides the scale, the prompts and the flips. Only the slots in `kept` are
  /// loaded (a data-parallel rank's share of a global batch); the others still draw their prompts and flips, so each
  /// image gets the ones it gets in the whole batch.
  public func batch(_ indices: [Int], random: inout SeededGenerator, keeping kept: Range<Int>? = nil) throws -> Batch {
    let squareSide = sizing.square.map { scales.isEmpty ? $0 : scales[Int(random.next() % UInt64(scales.count))] }
    var images: [Tensor] = [], captions: [String] = [], boxes: [[[Float]]] = [], phraseSpans: [[[Range<Int>]]] = []
    var loaded: [Int] = []
    for (slot, index) in indices.enumerated() {
      let record = records[index]
      var (caption, spans) = (record.caption, record.spans)
      if samplePrompts, let categories = record.categories, let names = record.categoryNames {
        (caption, spans) = BatchBuilder.sampledPrompt(categories: categories, names: names, random: &random)
      }
      let flipped = flip && random.nextUnitFloat() < 0.5
      let drawnSide =
        squareSide == nil && !trainingSides.isEmpty
        ? trainingSides[Int(random.next() % UInt64(trainingSides.count))] : nil
      guard kept?.contains(slot) ?? true else { continue }
      let photo: RGBImage
      do {
        photo = try sizing.read(path: record.imagePath)
      } catch {
        throw TrainingError(message: "training record \(index): \(error)")
      }
      var (image, scaleX, scaleY) = sized(photo, squareSide: squareSide, shorterSide: drawnSide)
      var scaled = record.boxes.map { [$0[0] * scaleX, $0[1] * scaleY, $0[2] * scaleX, $0[3] * scaleY] }
      if flipped {
        (image, scaled) = ImageTransforms.horizontalFlip(image, boxes: scaled)
        (caption, spans) = BatchBuilder.swapLeftRight(caption, spans: spans)
      }
      images.append(image)
      captions.append(caption)
      boxes.append(scaled)
      phraseSpans.append(spans)
      loaded.append(index)
    }
    // One phrase per box: the box's spans.
    let prompts = zip(captions, phraseSpans).map { Prompt(text: $0, phraseSpans: $1, labels: Array($1.indices)) }
    let encoded: EncodedPrompts
    do {
      encoded = try encoder.tokenize(prompts)
    } catch {
      throw TrainingError(message: "training records \(loaded.map { String($0) }.joined(separator: ", ")): \(error)")
    }
    let tokens = encoded.tokens
    let padded = squareSide == nil
    let targets = loaded.indices.map { slot -> GroundingTarget in
      let phraseTokens = encoded.phraseTokens[slot]
      return GroundingTarget(
        boxes: boxes[slot],
        positiveMap: Tensor(
          shape: [phraseTokens.count, tokens.length], values: PositiveMap.binaryMap(phraseTokens, length: tokens.length)
        ), validSize: padded ? (images[slot].shape[1], images[slot].shape[2]) : nil)
    }
    let batch =
      padded ? ImageTransforms.batch(images, divisor: sizing.divisibility).images : Tensor.stack(images, axis: 0)
    return Batch(images: batch, tokens: tokens, targets: targets)
  }

  /// `[3, H, W]` of `photo` at its training size and the factors from its pixels to the tensor's: a `squareSide`
  /// square, or GLIP's rule with `shorterSide` (drawn from `trainingSides`; nil: the sizing's own).
  func sized(_ photo: RGBImage, squareSide: Int?, shorterSide: Int?) -> (Tensor, Float, Float) {
    var rule = sizing
    if let squareSide {
      rule.square = squareSide
    } else if let shorterSide {
      rule.shorterSide = shorterSide
    }
    let (width, height) = rule.targetSize(width: photo.width, height: photo.height)
    return (
      rule.prepare(photo, format: pixelFormat).tensor, Float(width) / Float(photo.width),
      Float(height) / Float(photo.height)
    )
  }

  /// GLIP's detection-as-grounding prompt for training: every class present, a uniformly random number of the
  /// absent ones, all in random order; returns the prompt and each box's span (of its category's name).
  static func sampledPrompt(categories: [Int], names: [Int: String], random: inout SeededGenerator)
    -> (String, [[Range<Int>]])
  {
    var present: [Int] = []
    for category in categories where !present.contains(category) { present.append(category) }
    let absent = names.keys.filter { !present.contains($0) }.sorted().shuffled(using: &random)
    let negatives = Int.random(in: 0...absent.count, using: &random)
    let chosen = (present + absent.prefix(negatives)).shuffled(using: &random)
    let prompt = PromptBuilder.detectionPrompt(classNames: chosen.map { names[$0] ?? String($0) })
    let spanOf = Dictionary(uniqueKeysWithValues: zip(chosen, prompt.phraseSpans.map { $0[0] }))
    return (prompt.text, categories.map { [spanOf[$0]!] })
  }

  /// Swaps the words "left" and "right" (GLIP's grounding flip) and moves the phrase spans to the new positions.
  static func swapLeftRight(_ caption: String, spans: [[Range<Int>]]) -> (String, [[Range<Int>]]) {
    let scalars = Array(caption.unicodeScalars)
    var output: [Unicode.Scalar] = []
    var newIndex = [Int](repeating: 0, count: scalars.count + 1)
    var index = 0
    func matches(_ word: String, at position: Int) -> Bool {
      let letters = Array(word.unicodeScalars)
      guard position + letters.count <= scalars.count, Array(scalars[position..<(position + letters.count)]) == letters
      else { return false }
      let before = position == 0 || !scalars[position - 1].properties.isAlphabetic
      let after =
        position + letters.count == scalars.count || !scalars[position + letters.count].properties.isAlphabetic
      return before && after
    }
    while index < scalars.count {
      let swap: (String, String)? =
        matches("left", at: index) ? ("left", "right") : matches("right", at: index) ? ("right", "left") : nil
      if let (from, to) = swap {
        let (length, replacement) = (from.unicodeScalars.count, Array(to.unicodeScalars))
        for offset in 0..<length { newIndex[index + offset] = output.count + min(offset, replacement.count - 1) }
        output += replacement
        index += length
      } else {
        newIndex[index] = output.count
        output.append(scalars[index])
        index += 1
      }
    }
    newIndex[scalars.count] = output.count
    let moved = spans.map { phrase in
      phrase.map { span -> Range<Int> in
        let end = span.upperBound > 0 ? newIndex[span.upperBound - 1] + 1 : 0
        return newIndex[span.lowerBound]..<max(newIndex[span.lowerBound], end)
      }
    }
    return (String(String.UnicodeScalarView(output)), moved)
  }
}
