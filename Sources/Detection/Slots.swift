import Imaging
import Language
import NN
import TensorCore

/// What one feature level looks like: its channels and its stride relative to the input image.
public struct FeatureSpec: Equatable, Codable, Sendable, CustomStringConvertible {
  public var channels: Int
  public var stride: Int

  public init(channels: Int, stride: Int) {
    self.channels = channels
    self.stride = stride
  }

  public var description: String { "\(channels)ch/\(stride)" }
}

/// Token ids and attention mask for a batch of prompts: `[batch, tokens]` each, the mask 1 at real tokens.
public struct TokenBatch {
  public var ids: Tensor
  public var attentionMask: Tensor

  public init(ids: Tensor, attentionMask: Tensor) {
    precondition(
      ids.shape == attentionMask.shape && ids.rank == 2,
      "TokenBatch: ids \(ids.shape) and mask \(attentionMask.shape) must be equal [batch, tokens]")
    self.ids = ids
    self.attentionMask = attentionMask
  }

  public var batchSize: Int { ids.shape[0] }
  public var length: Int { ids.shape[1] }
}

/// Text features with the mask that travels with them: hidden `[batch, tokens, hidden]`, mask `[batch, tokens]`.
public struct TextFeatures {
  public var hidden: Tensor
  public var mask: Tensor

  public init(hidden: Tensor, mask: Tensor) {
    self.hidden = hidden
    self.mask = mask
  }
}

/// The image encoder slot: images `[N, 3, H, W]` in its `pixelFormat` → one map per `outputSpecs` entry.
public protocol Backbone: Module {
  var outputSpecs: [FeatureSpec] { get }
  var pixelFormat: PixelFormat { get }
  func features(_ images: Tensor) -> [Tensor]
}

/// Maps backbone feature maps to the maps the head consumes.
public protocol Neck: Module {
  var outputSpecs: [FeatureSpec] { get }
  func callAsFunction(_ features: [Tensor]) -> [Tensor]
}

/// Prompts as a text encoder's tokens: the batch, and for each prompt the token positions of each of its phrases.
public struct EncodedPrompts {
  /// `[prompts, tokens]`, padded to the longest prompt.
  public var tokens: TokenBatch
  /// `phraseTokens[i][p]`: the token positions phrase `p` of prompt `i` covers (sorted; empty when none).
  public var phraseTokens: [[[Int]]]

  public init(tokens: TokenBatch, phraseTokens: [[[Int]]]) {
    precondition(phraseTokens.count == tokens.batchSize, "EncodedPrompts: one phrase list per prompt")
    self.tokens = tokens
    self.phraseTokens = phraseTokens
  }
}

/// The language slot: prompts → tokens → contextual token features of width `hiddenSize`.
///
/// Tokenising is part of the slot, so training, evaluation and prediction work with any text encoder: a BERT with
/// its WordPiece vocabulary, or a closed-set encoder whose "tokens" are its classes.
public protocol TextEncoder: Module {
  var hiddenSize: Int { get }
  /// `input` as prompts this encoder takes whole: a phrase list too long for it is split into chunks. Each prompt's
  /// `labels` index the phrases of `input`.
  func prompts(for input: PromptInput) throws -> [Prompt]
  /// The token batch of `prompts` with each phrase's token positions (GLIP's positive map, from character spans).
  func tokenize(_ prompts: [Prompt]) throws -> EncodedPrompts
  /// Token features `[batch, tokens, hiddenSize]` with their mask.
  func encode(_ tokens: TokenBatch) -> TextFeatures
}

/// One cross-modal fusion step: (image levels, text) → (image levels, text). The text mask is carried along.
public protocol FusionBlock: Module {
  func fuse(image: [Tensor], text: TextFeatures) -> (image: [Tensor], text: TextFeatures)
}

/// Raw dense predictions per level: box regression `[N, 4, H, W]`, centerness `[N, 1, H, W]` and classification or
/// alignment logits `[N, H·W, T]` (T = tokens of the prompt, or classes for a closed-set classifier).
public struct HeadOutputs {
  public var boxRegression: [Tensor]
  public var centerness: [Tensor]
  public var logits: [Tensor]

  public init(boxRegression: [Tensor], centerness: [Tensor], logits: [Tensor]) {
    self.boxRegression = boxRegression
    self.centerness = centerness
    self.logits = logits
  }
}

/// Ground truth of one image: boxes `(x1, y1, x2, y2)` in input pixels and which prompt tokens each box grounds.
public struct GroundingTarget {
  public var boxes: [[Float]]
  /// `[boxes, tokens]`, 1 where the token belongs to the box's phrase.
  public var positiveMap: Tensor
  /// The image's (height, width) inside a padded batch; locations centred outside it are never positive. nil: the
  /// whole input.
  public var validSize: (height: Int, width: Int)?

  public init(boxes: [[Float]], positiveMap: Tensor, validSize: (height: Int, width: Int)? = nil) {
    precondition(
      positiveMap.rank == 2 && positiveMap.shape[0] == boxes.count,
      "GroundingTarget: positive map \(positiveMap.shape) does not match \(boxes.count) boxes")
    self.boxes = boxes
    self.positiveMap = positiveMap
    self.validSize = validSize
  }

  /// Whether a location's reference (a point or an anchor box) is centred inside the valid region.
  public func isValid(reference: [Float]) -> Bool {
    guard let validSize else { return true }
    let x = (reference[0] + reference[2]) / 2, y = (reference[1] + reference[3]) / 2
    return x < Float(validSize.width) && y < Float(validSize.height)
  }
}

/// One detected region: box `(x1, y1, x2, y2)`, score, the index of the phrase it grounds and that phrase's text
/// (empty when the caller gave no phrase names).
public struct Detection: Equatable, Sendable {
  public var box: [Float]
  public var score: Float
  public var phraseIndex: Int
  public var phrase: String

  public init(box: [Float], score: Float, phraseIndex: Int, phrase: String = "") {
    self.box = box
    self.score = score
    self.phraseIndex = phraseIndex
    self.phrase = phrase
  }
}

/// A phrase of a prompt: its text and the token positions it covers.
public struct PromptPhrase: Equatable, Sendable {
  public var text: String
  public var tokens: [Int]

  public init(text: String, tokens: [Int]) {
    self.text = text
    self.tokens = tokens
  }
}

/// The dense head slot: predictions per level, the training loss and the post-processing.
public protocol DenseHead: Module {
  var inputSpecs: [FeatureSpec] { get }
  func predict(_ levels: [Tensor], text: TextFeatures) -> HeadOutputs
  /// Named loss terms for a batch; their sum is the training loss.
  func loss(_ outputs: HeadOutputs, targets: [GroundingTarget], text: TextFeatures, imageSize: (Int, Int))
    -> [String: Tensor]
  /// Detections for image `index` of the batch; `phrases` lists the token positions of each phrase.
  func detections(_ outputs: HeadOutputs, image index: Int, phrases: [[Int]], imageSize: (Int, Int)) -> [Detection]
}
