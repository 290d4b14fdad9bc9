import Config
import Detection
import NN
import TensorCore

/// The closed-set case in the grounding frame: token i of the "prompt" is class i, and its feature is a learned
/// vector. A detector with this encoder scores regions against class vectors, i.e. it is a plain N-class detector.
public final class ClassEmbeddingEncoder: Module, TextEncoder {
  public enum Keys {
    public static let classes = ConfigKey<Int>("classes", "number of classes (the prompt is the ids 0…classes−1)")
    public static let hidden = ConfigKey<Int>("hidden", default: 64, "width of each class vector")
    public static let all: [KeyDocumentation] = [classes.documentation, hidden.documentation]
  }

  public let embedding: Embedding

  public init(classes: Int, hidden: Int, generator: inout SeededGenerator) {
    embedding = Embedding(classes, hidden, generator: &generator)
    super.init()
    register("embedding", embedding)
  }

  public convenience init(config: ConfigSection, context: BuildContext) throws {
    let classes = try config.read(Keys.classes), hidden = try config.read(Keys.hidden)
    guard classes > 0 else { throw config.error("classes", "expected a positive count, got \(classes)") }
    guard hidden > 0 else { throw config.error("hidden", "expected a positive width, got \(hidden)") }
    self.init(classes: classes, hidden: hidden, generator: &context.random.generator)
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
