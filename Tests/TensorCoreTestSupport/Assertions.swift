import Foundation
import TensorCore
import XCTest

/// Fails unless `actual` and `expected` have the same shape and every |a − e| ≤ tolerance · max(1, max|expected|).
public func assertClose(
  _ actual: Tensor, _ expected: Tensor, tolerance: Float = 1e-5, _ message: @autoclosure () -> String = "",
  file: StaticString = #filePath, line: UInt = #line
) {
  guard actual.shape == expected.shape else {
    XCTFail("\(message()): shape \(actual.shape) != expected \(expected.shape)", file: file, line: line)
    return
  }
  // The scale comes from finite values; infinities must match exactly (inf − inf would be NaN and hide a mismatch).
  let scale = max(1, expected.scalars.filter(\.isFinite).map { abs($0) }.max() ?? 0)
  var worst: (index: Int, error: Float) = (0, 0)
  for index in 0..<actual.count {
    let (a, e) = (actual[flat: index], expected[flat: index])
    let error: Float
    if a.isNaN || e.isNaN {
      error = a.isNaN == e.isNaN ? 0 : .infinity
    } else if a.isInfinite || e.isInfinite {
      error = a == e ? 0 : .infinity
    } else {
      error = abs(a - e)
    }
    if error > worst.error || error.isNaN { worst = (index, error) }
  }
  if worst.error > tolerance * scale {
    XCTFail(
      "\(message()): max error \(worst.error) at flat index \(worst.index) "
        + "(got \(actual[flat: worst.index]), expected \(expected[flat: worst.index])), "
        + "allowed \(tolerance) × scale \(scale)", file: file, line: line)
  }
}

public func assertClose(
  _ actual: Tensor, _ expected: [Float], tolerance: Float = 1e-5, _ message: @autoclosure () -> String = "",
  file: StaticString = #filePath, line: UInt = #line
) {
  assertClose(
    actual, Tensor(shape: actual.shape, values: expected), tolerance: tolerance, message(), file: file, line: line)
}
