import TensorCore

/// The text features of the prompts a predictor has encoded, so a prompt given to many images is encoded once.
///
/// Holds the features of one prompt row (`[1, tokens, hidden]`), keyed by its token ids and mask. Valid only while
/// the weights stay as they are: make one per evaluation or prediction run, never across training steps.
public final class TextFeatureCache {
  private var entries: [[Float]: TextFeatures] = [:]
  private var order: [[Float]] = []
  /// How many prompts are kept; the oldest goes first.
  public let capacity: Int
  /// How many times a prompt was encoded, and how many times the cache answered.
  public private(set) var encoded = 0, reused = 0

  public init(capacity: Int = 16) {
    precondition(capacity > 0, "TextFeatureCache: capacity must be positive")
    self.capacity = capacity
  }

  /// The features of a one-row token batch, encoded with `encode` the first time.
  public func features(of row: TokenBatch, encode: (TokenBatch) -> TextFeatures) -> TextFeatures {
    precondition(row.batchSize == 1, "TextFeatureCache: one prompt row at a time")
    let key = row.ids.scalars + [-1] + row.attentionMask.scalars
    if let known = entries[key] {
      reused += 1
      return known
    }
    let features = encode(row)
    encoded += 1
    entries[key] = features
    order.append(key)
    if order.count > capacity { entries[order.removeFirst()] = nil }
    return features
  }
}
