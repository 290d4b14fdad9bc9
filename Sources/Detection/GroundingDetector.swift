import Imaging
import Language
import NN
import TensorCore

/// A detector in GLIP's frame: image features and prompt features meet in the head, whose logits score each region
/// against each prompt token. Parameter keys start with the slot names: `backbone.`, `neck.`, `text_encoder.`,
/// `head.` (fusion blocks sit in the head tower, at `FusionLayout.parameterPattern`).
public final class GroundingDetector: Module {
  public let backbone: any Backbone
  public let neck: (any Neck)?
  public let textEncoder: any TextEncoder
  public let head: any DenseHead
  /// The plugin type of each slot, as configured.
  public let slotTypes: [String: String]

  public init(
    backbone: any Backbone, neck: (any Neck)?, textEncoder: any TextEncoder, head: any DenseHead,
    slotTypes: [String: String]
  ) {
    self.backbone = backbone
    self.neck = neck
    self.textEncoder = textEncoder
    self.head = head
    self.slotTypes = slotTypes
    super.init()
    register("backbone", backbone)
    if let neck { register("neck", neck) }
    register("text_encoder", textEncoder)
    register("head", head)
  }

  public var pixelFormat: PixelFormat { backbone.pixelFormat }

  /// The feature maps the head sees: `[N, C, H, W]` per level.
  public func imageFeatures(_ images: Tensor) -> [Tensor] {
    let features = StageClock.measure("backbone") { backbone.features(images) }
    return StageClock.measure("neck") { neck.map { $0(features) } ?? features }
  }

  /// Dense predictions for normalised images `[N, 3, H, W]` and their prompts.
  public func callAsFunction(_ images: Tensor, tokens: TokenBatch) -> HeadOutputs {
    precondition(
      images.shape[0] == tokens.batchSize,
      "GroundingDetector: \(images.shape[0]) images but \(tokens.batchSize) prompts")
    return head.predict(imageFeatures(images), text: textFeatures(tokens))
  }

  /// GLIP's prompt tuning (its `tunable_linear`): an offset per token position, added to the text encoder's features
  /// before fusion and the classifier, zero at first so the model starts as it was. Nil unless `addPromptOffset`
  /// made it (`train.mode: prompt_tuning` or `language_prompt_v4`); its key is `prompt_offset`.
  public private(set) var promptOffset: Parameter?

  /// Adds `prompt_offset` `[rows, hiddenSize]`, zero-initialised (positions past `rows` get no offset).
  public func addPromptOffset(rows: Int = 1000) {
    guard promptOffset == nil else { return }
    let offset = Parameter(.zeros([rows, textEncoder.hiddenSize]))
    register("prompt_offset", offset)
    promptOffset = offset
  }

  /// The prompt's token features `[batch, tokens, hidden]`, with the prompt offset when there is one.
  public func textFeatures(_ tokens: TokenBatch) -> TextFeatures {
    var text = StageClock.measure("text encoder") { textEncoder.encode(tokens) }
    guard let promptOffset else { return text }
    let length = text.hidden.shape[1], rows = promptOffset.shape[0]
    var offset = promptOffset.value.narrow(axis: 0, start: 0, length: min(length, rows))
    if length > rows { offset = offset.padded([0, 0, 0, length - rows]) }
    text.hidden = text.hidden + offset.unsqueezed(0)
    return text
  }

  /// `textFeatures`, with a prompt repeated over the whole batch (evaluation and `glip predict` give every image the
  /// same prompt) encoded once and shared: the text encoder never sees the image, only the head's fusion does. With
  /// `cache`, the prompt's features are also shared between calls.
  func sharedTextFeatures(_ tokens: TokenBatch, cache: TextFeatureCache? = nil) -> TextFeatures {
    let count = tokens.batchSize, length = tokens.length
    let ids = tokens.ids.scalars, mask = tokens.attentionMask.scalars
    let repeated = (1..<max(count, 1)).allSatisfy { row in
      ids[(row * length)..<((row + 1) * length)].elementsEqual(ids[0..<length])
        && mask[(row * length)..<((row + 1) * length)].elementsEqual(mask[0..<length])
    }
    guard repeated else { return textFeatures(tokens) }
    let row = TokenBatch(
      ids: tokens.ids.narrow(axis: 0, start: 0, length: 1),
      attentionMask: tokens.attentionMask.narrow(axis: 0, start: 0, length: 1))
    let one = cache?.features(of: row, encode: textFeatures) ?? textFeatures(row)
    guard count > 1 else { return one }
    return TextFeatures(
      hidden: one.hidden.expanded(to: [count] + one.hidden.shape.dropFirst()),
      mask: one.mask.expanded(to: [count] + one.mask.shape.dropFirst()))
  }

  /// Named loss terms and their sum under "loss".
  public func loss(_ images: Tensor, tokens: TokenBatch, targets: [GroundingTarget]) -> [String: Tensor] {
    let text = textFeatures(tokens)
    let outputs = head.predict(imageFeatures(images), text: text)
    var terms = head.loss(outputs, targets: targets, text: text, imageSize: (images.shape[2], images.shape[3]))
    // Summed in key order: dictionary order varies between runs, and float addition is not associative.
    let ordered = terms.keys.sorted().map { terms[$0]! }
    terms["loss"] = ordered.dropFirst().reduce(ordered.first ?? Tensor(scalar: 0), +)
    return terms
  }

  /// Detections for one prompt per image, tokenised by the text encoder. Each detection carries its phrase's text and
  /// `phraseIndex = prompts[i].labels[p]`: the phrase's index in the user's whole prompt (or its category index),
  /// the same in every chunk. `validSizes` gives each image's (height, width) before padding (boxes are clipped to
  /// it); nil for unpadded images. With `textCache`, a prompt's text features are computed once and reused.
  public func detect(
    _ images: Tensor, prompts: [Prompt], validSizes: [(Int, Int)]? = nil, textCache: TextFeatureCache? = nil
  ) throws -> [[Detection]] {
    let encoded = try textEncoder.tokenize(prompts)
    let phrases = zip(prompts, encoded.phraseTokens).map { prompt, tokens in
      zip(prompt.phraseTexts, tokens).map { PromptPhrase(text: $0, tokens: $1) }
    }
    let found = detect(
      images, tokens: encoded.tokens, phrases: phrases, validSizes: validSizes, textCache: textCache)
    return zip(found, prompts).map { found, prompt in
      found.map { detection in
        var labelled = detection
        labelled.phraseIndex = prompt.labels[detection.phraseIndex]
        return labelled
      }
    }
  }

  /// Detections per image, with a different prompt per image allowed: `phrases[i]` lists prompt i's phrases.
  public func detect(
    _ images: Tensor, tokens: TokenBatch, phrases: [[PromptPhrase]], validSizes: [(Int, Int)]? = nil,
    textCache: TextFeatureCache? = nil
  ) -> [[Detection]] {
    let detections = detect(
      images, tokens: tokens, phrases: phrases.map { $0.map(\.tokens) }, validSizes: validSizes,
      textCache: textCache)
    return zip(detections, phrases).map { found, prompt in
      found.map { detection in
        var named = detection
        named.phrase = prompt[detection.phraseIndex].text
        return named
      }
    }
  }

  /// Detections per image; `phrases[i]` holds the token positions of each phrase of prompt i, and `validSizes[i]`
  /// image i's (height, width) before padding (nil: the whole tensor).
  public func detect(
    _ images: Tensor, tokens: TokenBatch, phrases: [[[Int]]], validSizes: [(Int, Int)]? = nil,
    textCache: TextFeatureCache? = nil
  ) -> [[Detection]] {
    precondition(validSizes == nil || validSizes!.count == images.shape[0], "detect: one valid size per image")
    precondition(
      images.shape[0] == tokens.batchSize, "detect: \(images.shape[0]) images but \(tokens.batchSize) prompts")
    return withNoGrad {
      let outputs = head.predict(imageFeatures(images), text: sharedTextFeatures(tokens, cache: textCache))
      return (0..<images.shape[0]).map {
        head.detections(
          outputs, image: $0, phrases: phrases[$0], imageSize: validSizes?[$0] ?? (images.shape[2], images.shape[3]))
      }
    }
  }
}

/// Where deep-fusion blocks sit in a detector's parameters: block N of the head's tower holds its fusion block, so
/// its keys read `head.tower.N.fusion.…`. The one place this path is spelled: heads register under these names,
/// and slot freezing and inspection match with them.
public enum FusionLayout {
  /// The head's tower module.
  public static let tower = "tower"
  /// A tower block's fusion module.
  public static let block = "fusion"
  /// The key pattern of every fusion parameter.
  public static let parameterPattern = "head.\(tower).*.\(block).*"

  /// Whether a detector parameter key belongs to a fusion block.
  public static func isFusionParameter(_ key: String) -> Bool {
    let parts = key.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count > 4 && parts[0] == "head" && parts[1] == Substring(tower) && parts[3] == Substring(block)
  }
}
