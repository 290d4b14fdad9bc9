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
      case "squeeze": return [x.squeezed(fixture.int("axis"))]
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

  func testViewsAndErrorsKeepShapesStraight() {
    let x = Tensor.arange(24).reshaped([2, 3, 4])
    XCTAssertEqual(x.transposed().shape, [2, 4, 3])
    XCTAssertEqual(x.slice(axis: 1, start: 1).scalars.prefix(4), [4, 5, 6, 7])
    XCTAssertEqual(x.chunk(3, axis: 2).map(\.shape), [[2, 3, 2], [2, 3, 2]])
    XCTAssertEqual(x.squeezed().shape, [2, 3, 4])
    XCTAssertEqual(Tensor.ones([1, 3, 1]).squeezed().shape, [3])
  }
}
