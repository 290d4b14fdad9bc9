import Foundation
import TensorCore
import XCTest

/// Compares autograd gradients with central finite differences.
///
/// The checked scalar is `sum(f(inputs) * weights)` with fixed random weights, so every output element matters.
/// Differences are taken in Float32, hence the loose default tolerance relative to the gradient's scale.
public enum GradientChecker {
  public static func check(
    _ inputs: [Tensor], wrt checked: [Int]? = nil, epsilon: Float = 1e-2, tolerance: Float = 2e-2,
    file: StaticString = #filePath, line: UInt = #line, _ function: ([Tensor]) -> Tensor
  ) {
    let checkedIndices = checked ?? Array(inputs.indices)
    var leaves = inputs.map { $0.detached() }
    for index in checkedIndices { leaves[index].requiresGrad = true }
    let output = function(leaves)
    let weights = Tensor.normal(output.shape, seed: 99)
    let loss = (output * weights).sum()
    loss.backward()

    func evaluate(_ probe: [Tensor]) -> Double {
      withNoGrad {
        let value = function(probe)
        return zip(value.scalars, weights.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
      }
    }

    for index in checkedIndices {
      guard let analytic = leaves[index].grad else {
        XCTFail("input \(index): no gradient was computed", file: file, line: line)
        continue
      }
      var numeric = [Float](repeating: 0, count: inputs[index].count)
      for element in 0..<inputs[index].count {
        var probe = inputs.map { $0.detached() }
        let original = probe[index][flat: element]
        probe[index][flat: element] = original + epsilon
        let plus = evaluate(probe)
        probe[index][flat: element] = original - epsilon
        let minus = evaluate(probe)
        numeric[element] = Float((plus - minus) / Double(2 * epsilon))
      }
      assertClose(
        analytic, Tensor(shape: inputs[index].shape, values: numeric), tolerance: tolerance,
        "finite-difference gradient of input \(index)", file: file, line: line)
    }
  }
}
