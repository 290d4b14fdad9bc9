import Datasets
import Detection
import Foundation
import Imaging
import Language
import TensorCore

/// A pseudo-labelled image–caption pair: the teacher's confident boxes for the caption's noun phrases.
public struct PseudoLabel: Sendable {
  public struct Region: Sendable {
    /// `(x1, y1, x2, y2)` in the image's pixels.
    public var box: [Float]
    public var phrase: String
    /// The phrase's characters in the caption (Unicode scalar offsets).
    public var span: Range<Int>
    public var score: Float
  }

  public var pair: CaptionPair
  public var width: Int
  public var height: Int
  /// The caption's noun phrases (whether or not a box was kept for them).
  public var phrases: [NounPhrase]
  public var regions: [Region]

  /// The ODVG line (`glip train` reads it as grounding data): `{"filename", "width", "height", "grounding":
  /// {"caption", "regions": [{"bbox", "phrase", "tokens_positive": [[start, end]], "score"}]}}`.
  public var odvgLine: String {
    let regionObjects: [[String: Any]] = regions.map { region in
      [
        "bbox": region.box.map(PseudoLabel.rounded), "phrase": region.phrase,
        "tokens_positive": [[region.span.lowerBound, region.span.upperBound]],
        "score": (Double(region.score) * 10000).rounded() / 10000,
      ]
    }
    let record: [String: Any] = [
      "filename": pair.fileName, "width": width, "height": height,
      "grounding": ["caption": pair.caption, "regions": regionObjects],
    ]
    let data = try! JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self)
  }

  static func rounded(_ value: Float) -> Double { (Double(value) * 100).rounded() / 100 }
}

/// Self-training's labelling step (GLIP §3.3 on image–text pairs): each caption is chunked into noun phrases, the
/// teacher grounds them with the caption itself as the prompt, and boxes scoring at least `threshold` become the
/// pair's regions.
public struct PseudoLabeler {
  public let predictor: Predictor
  public let chunker: NounPhraseChunker
  public var threshold: Float
  /// Images per forward pass.
  public var batchSize: Int
  /// Keep at most as many boxes for a phrase as the caption says it names (`NounPhrase.count`: one for "a red
  /// circle", two for "two blue stars"), the highest-scoring ones; phrases of no stated number keep every box.
  public var countedPhrases = false

  public init(predictor: Predictor, chunker: NounPhraseChunker = NounPhraseChunker(), threshold: Float, batchSize: Int)
  {
    self.predictor = predictor
    self.chunker = chunker
    self.threshold = threshold
    self.batchSize = max(batchSize, 1)
  }

  /// The caption as a prompt whose phrases are its noun phrases; nil when it has none.
  public func prompt(for caption: String) -> (prompt: Prompt, phrases: [NounPhrase])? {
    let phrases = chunker.phrases(in: caption)
    guard !phrases.isEmpty else { return nil }
    return (Prompt(text: caption, phraseSpans: phrases.map { [$0.span] }, labels: Array(phrases.indices)), phrases)
  }

  /// Labels every pair, `batchSize` images at a time, in order; `progress` gets the number of pairs done. Errors
  /// (an unreadable image, a caption too long for the text encoder) name the captions file's line.
  public func label(
    _ pairs: [CaptionPair], imageRoot: String, captionsPath: String, progress: ((Int) -> Void)? = nil
  ) throws -> [PseudoLabel] {
    var labels: [PseudoLabel] = []
    for start in stride(from: 0, to: pairs.count, by: batchSize) {
      let batch = Array(pairs[start..<min(start + batchSize, pairs.count)])
      labels += try label(batch: batch, imageRoot: imageRoot, captionsPath: captionsPath)
      progress?(labels.count)
    }
    return labels
  }

  func label(batch: [CaptionPair], imageRoot: String, captionsPath: String) throws -> [PseudoLabel] {
    let detector = predictor.detector
    var photos: [RGBImage] = [], prompts: [(prompt: Prompt, phrases: [NounPhrase])?] = []
    for pair in batch {
      func problem(_ reason: String) -> DatasetError {
        DatasetError(path: captionsPath, record: nil, location: nil, reason: "line \(pair.line): \(reason)")
      }
      let path = URL(fileURLWithPath: imageRoot).appendingPathComponent(pair.fileName).path
      do {
        photos.append(try ImageIO.read(path: path))
      } catch {
        throw problem("\(pair.fileName): \(error)")
      }
      let prompt = self.prompt(for: pair.caption)
      if let prompt {
        do {
          _ = try detector.textEncoder.prompts(for: .caption(prompt.prompt))
        } catch {
          throw problem("\(error)")
        }
      }
      prompts.append(prompt)
    }
    let grounded = batch.indices.filter { prompts[$0] != nil }
    var found = [[Detection]](repeating: [], count: batch.count)
    if !grounded.isEmpty {
      let detections = try predictor.detect(
        grounded.map { photos[$0] }, eachWith: grounded.map { prompts[$0]!.prompt })
      for (slot, index) in grounded.enumerated() { found[index] = detections[slot] }
    }
    return batch.indices.map { index in
      let photo = photos[index]
      let phrases = prompts[index]?.phrases ?? []
      var kept = [Int](repeating: 0, count: phrases.count)
      var confident = found[index].filter { $0.score >= threshold }
      if countedPhrases { confident.sort { $0.score > $1.score } }
      let regions = confident.compactMap { detection -> PseudoLabel.Region? in
        let phrase = phrases[detection.phraseIndex]
        if countedPhrases, let count = phrase.count, kept[detection.phraseIndex] >= count { return nil }
        guard let box = clamped(detection.box, width: photo.width, height: photo.height) else { return nil }
        kept[detection.phraseIndex] += 1
        return PseudoLabel.Region(box: box, phrase: phrase.text, span: phrase.span, score: detection.score)
      }
      return PseudoLabel(
        pair: batch[index], width: photo.width, height: photo.height, phrases: phrases, regions: regions)
    }
  }

  /// The box inside the image, or nil when nothing of it is left.
  func clamped(_ box: [Float], width: Int, height: Int) -> [Float]? {
    let (w, h) = (Float(width), Float(height))
    let inside = [min(max(box[0], 0), w), min(max(box[1], 0), h), min(max(box[2], 0), w), min(max(box[3], 0), h)]
    guard inside.allSatisfy(\.isFinite), inside[2] - inside[0] >= 1, inside[3] - inside[1] >= 1 else { return nil }
    return inside
  }
}
