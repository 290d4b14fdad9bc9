/// View-like shape changes. Storage is shared until written (copy-on-write), so these cost no copy.
extension Tensor {
  /// The same values under `newShape`; one entry may be -1 and is inferred.
  public func reshaped(_ newShape: [Int]) -> Tensor {
    let resolved = Tensor.resolveShape(newShape, count: count, from: shape)
    let output = sharingStorage(shape: resolved)
    let original = shape
    return Tensor.record("reshape", output: output, inputs: [self]) { grad in
      [grad.sharingStorage(shape: original)]
    }
  }

  public func reshaped(_ newShape: Int...) -> Tensor { reshaped(newShape) }

  static func resolveShape(_ requested: [Int], count: Int, from original: [Int]) -> [Int] {
    let inferred = requested.indices.filter { requested[$0] == -1 }
    precondition(inferred.count <= 1, "reshape: at most one -1 allowed in \(requested)")
    var resolved = requested
    if let slot = inferred.first {
      let known = requested.enumerated().filter { $0.offset != slot }.reduce(1) { $0 * $1.element }
      precondition(known > 0 && count % known == 0, "reshape: cannot reshape \(original) to \(requested)")
      resolved[slot] = count / known
    }
    precondition(
      elementCount(resolved) == count, "reshape: cannot reshape \(original) (\(count) values) to \(requested)")
    return resolved
  }
}
