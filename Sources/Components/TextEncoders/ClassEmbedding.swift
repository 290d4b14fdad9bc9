import Config
import Detection
import Foundation
import Language
import NN
import TensorCore

/// The closed-set case in the grounding frame: token i of the "prompt" is class i, and its feature is a learned
/// vector. A detector with this encoder scores regions against class vectors, i.e. it is a plain N-class detector.
///
/// Every prompt's tokens are all the classes in order; a phrase is one class, found by its name in `names` (a
/// dataset's category names, in category-id order), or by its index (`"0"`, `"1"`, …) when no names are given.
public final class ClassEmbeddingEncoder: Module, TextEncoder {
  public enum Keys {
    public static let classes = ConfigKey<Int>(
      "classes", range: 1...100_000, "number of classes (the prompt is the ids 0…classes−1)")
    public static let hidden = ConfigKey<Int>("hidden", default: 64, range: 1...16384, "width of each class vector")
    public static let names = ConfigKey<[String]>(
      "names", default: [],
      "class names, in class order: a prompt's phrases are matched to them (empty: \"0\", \"1\", …)")
    public static let all: [KeyDocumentation] = [classes.documentation, hidden.documentation, names.documentation]
  }

  public let embedding: Embedding
  /// The phrase that names each class.
  public let names: [String]
  /// Class index by cleaned name (GLIP's name cleaning, trimmed), for matching phrases.
  private let classByName: [String: Int]

  public init(classes: Int, hidden: Int, names: [String] = [], generator: inout SeededGenerator) {
    precondition(
      names.isEmpty || names.count == classes, "class_embedding: \(names.count) names for \(classes) classes")
    embedding = Embedding(classes, hidden, generator: &generator)
    self.names = names.isEmpty ? (0..<classes).map(String.init) : names
    var classByName: [String: Int] = [:]
    for (index, name) in self.names.enumerated() where classByName[Self.matchKey(name)] == nil {
      classByName[Self.matchKey(name)] = index
    }
    self.classByName = classByName
    super.init()
    register("embedding", embedding)
  }

  public convenience init(config: ConfigSection, context: BuildContext) throws {
    let classes = try config.read(Keys.classes), hidden = try config.read(Keys.hidden)
    let names = try config.read(Keys.names)
    guard classes > 0 else { throw config.error("classes", "expected a positive count, got \(classes)") }
    guard hidden > 0 else { throw config.error("hidden", "expected a positive width, got \(hidden)") }
    guard names.isEmpty || names.count == classes else {
      throw config.error("names", "expected \(classes) names (one per class), got \(names.count)")
    }
    self.init(classes: classes, hidden: hidden, names: names, generator: &context.random.generator)
  }

  /// Every class fits one prompt, so the input is never chunked.
  public func prompts(for input: PromptInput) throws -> [Prompt] {
    let prompt = input.prompt
    _ = try classIndices(prompt)
    return [prompt]
  }

  /// All classes as tokens for every prompt; each phrase's token is its class.
  public func tokenize(_ prompts: [Prompt]) throws -> EncodedPrompts {
    let phraseTokens = try prompts.map { try classIndices($0).map { [$0] } }
    return EncodedPrompts(tokens: prompt(batch: prompts.count), phraseTokens: phraseTokens)
  }

  /// The class of each phrase of `prompt`; a phrase that names no class is an error listing the names.
  private func classIndices(_ prompt: Prompt) throws -> [Int] {
    try prompt.phraseTexts.map { phrase in
      guard let index = classByName[Self.matchKey(phrase)] else {
        throw PromptError(
          "'\(phrase)' is not a class of this closed-set model; its classes are \(names.joined(separator: ", "))")
      }
      return index
    }
  }

  private static func matchKey(_ name: String) -> String {
    PromptBuilder.cleanName(name).trimmingCharacters(in: .whitespaces)
  }

  public var hiddenSize: Int { embedding.weight.shape[1] }
  public var classCount: Int { embedding.weight.shape[0] }

  /// The prompt of every image: all class ids in order.
  public func prompt(batch: Int) -> TokenBatch {
    let ids = Tensor(shape: [batch, classCount], values: (0..<(batch * classCount)).map { Float($0 % classCount) })
    return TokenBatch(ids: ids, attentionMask: .ones([batch, classCount]))
  }

  public func encode(_ tokens: TokenBatch) -> TextFeatures {
    TextFeatures(hidden: embedding(tokens.ids), mask: tokens.attentionMask)
  }

  override public var hyperParameters: String { "classes: \(classCount), hidden: \(hiddenSize)" }
}
