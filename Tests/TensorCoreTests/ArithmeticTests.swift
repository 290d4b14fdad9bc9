import TensorCore
import TensorCoreTestSupport
import XCTest

final class ArithmeticTests: XCTestCase {
  func testMatchesPyTorchFixtures() throws {
    try OpFixtures.run(group: "arithmetic") { fixture, inputs in
      switch fixture.op {
      case "add": return [inputs[0] + inputs[1]]
      case "sub": return [inputs[0] - inputs[1]]
      case "mul": return [inputs[0] * inputs[1]]
      case "div": return [inputs[0] / inputs[1]]
      case "neg": return [-inputs[0]]
      case "add_scalar": return [inputs[0] + fixture.float("value")]
      case "mul_scalar": return [inputs[0] * fixture.float("value")]
      case "rsub_scalar": return [fixture.float("value") - inputs[0]]
      case "rdiv_scalar": return [fixture.float("value") / inputs[0]]
      default: return nil
      }
    }
  }

  func testGradientsMatchFiniteDifferencesWithBroadcasting() {
    let a = Tensor.normal([2, 1, 3], seed: 1)
    let b = Tensor.uniform([4, 1], low: 0.5, high: 2, seed: 2)
    GradientChecker.check([a, b]) { $0[0] + $0[1] }
    GradientChecker.check([a, b]) { $0[0] - $0[1] }
    GradientChecker.check([a, b]) { $0[0] * $0[1] }
    GradientChecker.check([a, b]) { $0[0] / $0[1] }
    GradientChecker.check([a]) { -$0[0] * 2 + 1 }
    GradientChecker.check([b]) { 3 / $0[0] - 1 }
  }

  func testGradientAccumulatesAcrossUses() {
    var x = Tensor(shape: [3], values: [1, 2, 3])
    x.requiresGrad = true
    let y = (x * x + x).sum()
    y.backward()
    assertClose(x.grad!, [3, 5, 7])
    (x * 2).sum().backward()
    assertClose(x.grad!, [5, 7, 9])
  }

  func testBackwardFreesWhatTheGraphSavedUnlessRetained() {
    final class Saved {}
    func graph(saving saved: Saved) -> (Tensor, Tensor) {
      var x = Tensor(shape: [2], values: [1, 2])
      x.requiresGrad = true
      let doubled = Tensor.record("double", output: x * 2, inputs: [x]) { grad in
        withExtendedLifetime(saved) { [grad * 2] }
      }
      return (x, doubled.sum())
    }
    weak var freed: Saved?
    var (x, loss) = { () -> (Tensor, Tensor) in
      let saved = Saved()
      freed = saved
      return graph(saving: saved)
    }()
    XCTAssertNotNil(freed, "the recorded closure keeps what it saved")
    loss.backward()
    XCTAssertNil(freed, "a backward pass frees it, as PyTorch does without retain_graph")
    assertClose(x.grad!, [2, 2])

    weak var kept: Saved?
    (x, loss) = { () -> (Tensor, Tensor) in
      let saved = Saved()
      kept = saved
      return graph(saving: saved)
    }()
    loss.backward(retainGraph: true)
    XCTAssertNotNil(kept)
    loss.backward()
    assertClose(x.grad!, [4, 4])
    XCTAssertNil(kept)
  }

  func testNoGradScopeRecordsNothing() {
    var x = Tensor.ones([2])
    x.requiresGrad = true
    let y = withNoGrad { x * 3 }
    XCTAssertFalse(y.requiresGrad)
    XCTAssertTrue((x * 3).requiresGrad)
    XCTAssertFalse((x * 3).detached().requiresGrad)
  }

  func testCopyOnWriteKeepsValueSemantics() {
    let a = Tensor.zeros([4])
    var b = a
    b[flat: 0] = 5
    XCTAssertEqual(a[flat: 0], 0)
    XCTAssertEqual(b[flat: 0], 5)
  }

  func testSeededRandomIsReproducible() {
    XCTAssertEqual(Tensor.normal([16], seed: 7).scalars, Tensor.normal([16], seed: 7).scalars)
    XCTAssertNotEqual(Tensor.normal([16], seed: 7).scalars, Tensor.normal([16], seed: 8).scalars)
    let uniform = Tensor.uniform([10_000], low: -1, high: 1, seed: 3)
    XCTAssertEqual(uniform.mean().item, 0, accuracy: 0.03)
    XCTAssertEqual(Tensor.normal([10_000], seed: 4).scalars.map { $0 * $0 }.reduce(0, +) / 10_000, 1, accuracy: 0.05)
  }
}
