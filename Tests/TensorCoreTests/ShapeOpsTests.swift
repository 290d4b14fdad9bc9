import TensorCore
import TensorCoreTestSupport
import XCTest

final class ShapeOpsTests: XCTestCase {
  func testMatchesPyTorchFixtures() throws {
    try OpFixtures.run(group: "shape") { fixture, inputs in
      let x = inputs[0]
      switch fixture.op {
      case "permute": return [x.permuted(fixture.ints("axes"))]
      case "transpose": return [x.transposed(fixture.int("first"), fixture.int("second"))]
      case "flatten": return [x.flattened(startAxis: fixture.int("start"), endAxis: fixture.int("end"))]
      case "unsqueeze": return [x.unsqueezed(fixture.int("axis"))]
      case "squeeze": return [fixture.has("axis") ? x.squeezed(fixture.int("axis")) : x.squeezed()]
      case "expand": return [x.expanded(to: fixture.ints("shape"))]
      case "slice":
        return [
          x.slice(
            axis: fixture.int("axis"), start: fixture.has("start") ? fixture.int("start") : nil,
            end: fixture.has("end") ? fixture.int("end") : nil, step: fixture.int("step"))
        ]
      case "cat": return [Tensor.concat(inputs, axis: fixture.int("axis"))]
      case "stack": return [Tensor.stack(inputs, axis: fixture.int("axis"))]
      case "split": return x.split(sizes: fixture.ints("sizes"), axis: fixture.int("axis"))
      case "chunk": return x.chunk(fixture.int("count"), axis: fixture.int("axis"))
      case "pad": return [x.padded(fixture.ints("pads"), value: fixture.float("value"))]
      case "gather": return [x.gather(axis: fixture.int("axis"), indices: inputs[1])]
      case "index_select": return [x.indexSelect(axis: fixture.int("axis"), indices: inputs[1])]
      case "embedding":
        return [
          Tensor.embedding(
            weight: x, ids: inputs[1], paddingIndex: fixture.has("padding_index") ? fixture.int("padding_index") : nil)
        ]
      default: return nil
      }
    }
  }

  func testGradientsMatchFiniteDifferences() {
    let x = Tensor.normal([2, 3, 4], seed: 1)
    GradientChecker.check([x]) { $0[0].permuted(1, 2, 0) }
    GradientChecker.check([x]) { $0[0].slice(axis: -1, start: 1, step: 2) }
    GradientChecker.check([Tensor.normal([3, 1], seed: 2)]) { $0[0].expanded(to: [2, 3, 4]) }
    GradientChecker.check([x, Tensor.normal([2, 2, 4], seed: 3)]) { Tensor.concat($0, axis: 1) }
    GradientChecker.check([x, Tensor.normal([2, 3, 4], seed: 4)]) { Tensor.stack($0, axis: 2) }
    GradientChecker.check([x]) { $0[0].split(sizes: [1, 3], axis: 2)[1] }
    GradientChecker.check([x]) { $0[0].padded([1, 0, 2, 1], value: 3) }
    GradientChecker.check([x]) {
      $0[0].gather(axis: 1, indices: Tensor(shape: [2, 2, 4], values: (0..<16).map { Float($0 % 3) }))
    }
    GradientChecker.check([x]) { $0[0].indexSelect(axis: 2, indices: Tensor([3, 0, 3])) }
    GradientChecker.check([Tensor.normal([4, 3], seed: 5)]) {
      Tensor.embedding(weight: $0[0], ids: Tensor(shape: [2, 2], values: [0, 3, 3, 1]))
    }
    var table = Tensor.normal([4, 3], seed: 6)
    table.requiresGrad = true
    Tensor.embedding(weight: table, ids: Tensor([1, 2, 1]), paddingIndex: 1).sum().backward()
    XCTAssertEqual(table.grad?.scalars, [0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0], "the padding row gets no gradient")
  }

  func testMoreGradientsMatchFiniteDifferences() {
    let x = Tensor.normal([2, 3, 4], seed: 11)
    GradientChecker.check([x]) { $0[0].transposed(-1, 0) }
    GradientChecker.check([x]) { $0[0].flattened(startAxis: -2) }
    GradientChecker.check([x]) { $0[0].unsqueezed(-2).squeezed(2) }
    GradientChecker.check([x]) { $0[0].slice(axis: 1, start: -3, end: -1, step: 2) }
    GradientChecker.check([Tensor.normal([2, 1, 3], seed: 12)]) { $0[0].expanded(to: [4, -1, 5, -1]) }
    GradientChecker.check([x]) {
      let pieces = $0[0].chunk(3, axis: -1)
      return pieces[0] * 2 + pieces[1]
    }
    GradientChecker.check([x, Tensor.normal([2, 3, 4], seed: 13), Tensor.normal([2, 3, 4], seed: 14)]) {
      Tensor.stack($0, axis: -1)
    }
    GradientChecker.check([x]) {
      $0[0].gather(axis: 0, indices: Tensor(shape: [3, 1, 2], values: [1, 1, 0, 1, 1, 1]))
    }
    GradientChecker.check([x]) { $0[0].indexSelect(axis: 0, indices: Tensor([1, 1, 1])) }
    // Large enough for the tiled transpose path; the gradient of a permute is the inverse permute of the weights.
    let large = Tensor.normal([2, 30, 20, 40], seed: 15)
    for axes in [[0, 3, 1, 2], [0, 2, 3, 1]] {
      var input = large.detached()
      input.requiresGrad = true
      let weights = Tensor.normal(axes.map { large.shape[$0] }, seed: 16)
      (input.permuted(axes) * weights).sum().backward()
      assertClose(input.grad!, naivePermute(weights, axes: inversePermutation(axes)), tolerance: 0, "\(axes)")
    }
  }

  func testTiledTransposeMatchesRowByRowCopy() {
    // Each case is at least 2^14 values and crosses the tiled path: the source-contiguous axis is not the
    // second-to-last one, or the last axis is longer than 256.
    let cases: [([Int], [Int])] = [
      ([2, 30, 20, 40], [0, 3, 1, 2]), ([1, 300, 8, 9], [0, 2, 3, 1]), ([300, 70], [1, 0]),
      ([3, 17, 33, 19], [3, 1, 0, 2]), ([5, 4, 300, 3], [3, 2, 1, 0]),
    ]
    for (shape, axes) in cases {
      let input = Tensor.normal(shape, seed: 21)
      assertClose(input.permuted(axes), naivePermute(input, axes: axes), tolerance: 0, "\(shape) permuted \(axes)")
    }
    let column = Tensor.normal([300, 1], seed: 22)
    let expanded = column.expanded(to: [2, 300, 260])
    let expectedRows = Tensor.concat([column.reshaped([1, 300]), column.reshaped([1, 300])], axis: 0)
    for position in [0, 42, 259] {
      assertClose(
        expanded.slice(axis: 2, start: position, end: position + 1).reshaped([2, 300]), expectedRows, tolerance: 0)
    }
  }

  func testEdgeCasesFollowPyTorch() {
    let empty = Tensor.zeros([0, 3])
    XCTAssertEqual(empty.chunk(3, axis: 0).map(\.shape), [[0, 3], [0, 3], [0, 3]], "torch.chunk of an empty axis")
    XCTAssertEqual(Tensor.ones([5, 2]).chunk(4, axis: 0).map(\.shape), [[2, 2], [2, 2], [1, 2]])
    XCTAssertEqual(Tensor.ones([3, 1]).expanded(to: [2, -1, 4]).shape, [2, 3, 4])
    XCTAssertEqual(Tensor.ones([2, 3]).squeezed(0).shape, [2, 3], "squeezing a non-unit axis leaves the tensor as is")
    XCTAssertEqual(Tensor.ones([2, 3]).slice(axis: 1, start: 5).shape, [2, 0])
    XCTAssertEqual(Tensor.ones([2, 3]).padded([0, 0, 1, 1], value: 2).scalars.filter { $0 == 2 }.count, 6)
    var table = Tensor.normal([4, 2], seed: 23)
    table.requiresGrad = true
    Tensor.embedding(weight: table, ids: Tensor([3, 1, 3]), paddingIndex: -1).sum().backward()
    XCTAssertEqual(table.grad?.scalars, [0, 0, 1, 1, 0, 0, 0, 0], "paddingIndex -1 is the last row")
    let grid = Tensor.arange(6).reshaped([2, 3])
    let picked = grid.gather(axis: 1, indices: Tensor(shape: [2, 2], values: [-1, 0, 2, -3]))
    XCTAssertEqual(picked.scalars, [2, 0, 5, 3], "negative indices count from the end of the axis")
    let selected = grid.indexSelect(axis: -1, indices: Tensor([2, 2, -3]))
    XCTAssertEqual(selected.scalars, [2, 2, 0, 5, 5, 3])
  }

  /// `input.permuted(axes)` by explicit index arithmetic, one element at a time.
  private func naivePermute(_ input: Tensor, axes: [Int]) -> Tensor {
    let outShape = axes.map { input.shape[$0] }
    let (inStrides, outStrides) = (input.strides, Tensor.contiguousStrides(outShape))
    var values = [Float](repeating: 0, count: input.count)
    for flat in 0..<input.count {
      var source = 0
      for (outAxis, inAxis) in axes.enumerated() {
        source += (flat / outStrides[outAxis] % outShape[outAxis]) * inStrides[inAxis]
      }
      values[flat] = input[flat: source]
    }
    return Tensor(shape: outShape, values: values)
  }

  private func inversePermutation(_ axes: [Int]) -> [Int] {
    var inverse = axes
    for (position, axis) in axes.enumerated() { inverse[axis] = position }
    return inverse
  }

  func testViewsAndErrorsKeepShapesStraight() {
    let x = Tensor.arange(24).reshaped([2, 3, 4])
    XCTAssertEqual(x.transposed().shape, [2, 4, 3])
    XCTAssertEqual(x.slice(axis: 1, start: 1).scalars.prefix(4), [4, 5, 6, 7])
    XCTAssertEqual(x.chunk(3, axis: 2).map(\.shape), [[2, 3, 2], [2, 3, 2]])
    XCTAssertEqual(x.squeezed().shape, [2, 3, 4])
    XCTAssertEqual(Tensor.ones([1, 3, 1]).squeezed().shape, [3])
  }
}
