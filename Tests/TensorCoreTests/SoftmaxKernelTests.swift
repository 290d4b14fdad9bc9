import XCTest

@testable import TensorCore

/// The vector forms of the softmax's exponential and row maximum against their scalar definitions, bit for bit, so
/// a row's result does not depend on which of its elements fall in the vector part and which in the tail.
final class SoftmaxKernelTests: XCTestCase {
  private static let specialValues: [Float] = [
    -.infinity, -1e30, -88, -87.31, -87.3, -87.29, -20, -1e-30, -0.0, 0, 1e-30, 0.5, 1, 20, 87.9, 88, 88.5, 88.7,
    88.71, 1e30, .infinity, .nan, -.nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
  ]

  func testVectorExponentialGivesTheScalarBits() {
    let values = Self.specialValues + Tensor.normal([400], std: 30, seed: 5).scalars
    let shift: Float = 0.75
    var exponentials = [Float](repeating: -1, count: values.count)
    values.withUnsafeBufferPointer { source in
      exponentials.withUnsafeMutableBufferPointer { target in
        Tensor.exponentiate(source.baseAddress!, minus: shift, into: target.baseAddress!, count: values.count)
      }
    }
    for (value, exponential) in zip(values, exponentials) {
      let expected = Tensor.fastExp(value - shift)
      XCTAssertTrue(
        expected.bitPattern == exponential.bitPattern || (expected.isNaN && exponential.isNaN),
        "e^(\(value) − \(shift)): vector \(exponential), scalar \(expected)")
    }
    XCTAssertEqual(Tensor.fastExp(0), 1)
    XCTAssertLessThan(abs(Tensor.fastExp(-3) / Foundation.exp(-3) - 1), 1e-6)
  }

  func testInPlaceExponentialOverEveryTailLength() {
    for count in [0, 1, 15, 16, 17, 31, 33, 256] {
      let values = Tensor.normal([Swift.max(count, 1)], std: 4, seed: UInt64(count)).scalars.prefix(count)
      var row = Array(values)
      row.withUnsafeMutableBufferPointer { buffer in
        guard let start = buffer.baseAddress else { return }
        Tensor.exponentiate(start, minus: -1, into: start, count: count)
      }
      XCTAssertEqual(row.map(\.bitPattern), values.map { Tensor.fastExp($0 + 1).bitPattern }, "\(count) values")
    }
  }

  func testRowMaximumPassesOverNaNAndFindsTheLargest() {
    for count in [0, 1, 15, 16, 17, 40, 256] {
      var row = Tensor.normal([Swift.max(count, 1)], seed: 50 + UInt64(count)).scalars.prefix(count).map { $0 }
      if count > 3 { row[3] = .nan }
      let expected = row.filter { !$0.isNaN }.max() ?? -.infinity
      XCTAssertEqual(Tensor.rowMaximum(row, count: count), expected, "\(count) values")
    }
    let allMasked = [Float](repeating: -.infinity, count: 20)
    XCTAssertEqual(Tensor.rowMaximum(allMasked, count: 20), -.infinity)
    var lastIsLargest = [Float](repeating: 1, count: 33)
    lastIsLargest[32] = 2
    XCTAssertEqual(Tensor.rowMaximum(lastIsLargest, count: 33), 2)
  }

  /// A NaN score (a diverged model's) makes its row NaN, as in PyTorch, in the general softmax and in attention.
  func testNaNScoresGiveNaNRows() {
    let logits = Tensor(shape: [2, 3], values: [.nan, 1, 2, 0, 1, 2])
    let probabilities = logits.softmax(axis: -1).scalars
    XCTAssertTrue(probabilities.prefix(3).allSatisfy(\.isNaN))
    XCTAssertFalse(probabilities.suffix(3).contains(where: \.isNaN))
    let query = Tensor(shape: [1, 2, 2], values: [.nan, 0, 1, 1])
    let attended = withNoGrad { Tensor.scaledDotProductAttention(query: query, key: query, value: query) }
    XCTAssertTrue(attended.scalars.allSatisfy(\.isNaN))
  }
}
