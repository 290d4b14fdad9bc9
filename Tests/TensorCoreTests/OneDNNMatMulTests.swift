import Foundation
import TensorCoreTestSupport
import XCTest

@testable import TensorCore

/// oneDNN's products against OpenBLAS's on the same operands: transposes, leading dimensions wider than the matrix,
/// a bias row, and `linear` with its gradients.
final class OneDNNMatMulTests: XCTestCase {
  override func setUpWithError() throws { try requireOneDNN() }

  /// `C[m, n]` (row stride `n + 3`) from A and B stored with 2 and 5 spare columns, on `backend`.
  private func product(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, bias: Bool, on backend: KernelBackend
  ) -> [Float] {
    let (aRows, aColumns) = transposeA ? (k, m) : (m, k)
    let (bRows, bColumns) = transposeB ? (n, k) : (k, n)
    let (lda, ldb, ldc) = (aColumns + 2, bColumns + 5, n + 3)
    let a = Tensor.normal([aRows, lda], seed: 11), b = Tensor.normal([bRows, ldb], seed: 12)
    let rowBias = Tensor.normal([n], seed: 13)
    let c = Tensor.full([m, ldc], -7)
    KernelBackend.products.with(backend) {
      Tensor.gemm(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a.data, lda: lda, b: b.data, ldb: ldb,
        c: c.mutableData, ldc: ldc, rowBias: bias ? rowBias.data : nil)
    }
    return c.scalars
  }

  func testProductsMatchOpenBLAS() {
    let variants = [(false, false, false), (false, true, true), (true, false, false), (true, true, true)]
    for (transposeA, transposeB, bias) in variants {
      let ours = product(transposeA: transposeA, transposeB: transposeB, m: 9, n: 70, k: 66, bias: bias, on: .own)
      let oneDNN = product(
        transposeA: transposeA, transposeB: transposeB, m: 9, n: 70, k: 66, bias: bias, on: .onednn)
      let label = "transposeA \(transposeA), transposeB \(transposeB), bias \(bias)"
      XCTAssertEqual(ours.count, oneDNN.count, label)
      // The spare columns of C (-7) are left alone by both.
      let difference = zip(ours, oneDNN).map { abs($0 - $1) }.max() ?? 0
      XCTAssertLessThan(difference, 1e-4, label)
      XCTAssertEqual(ours.filter { $0 == -7 }.count, 9 * 3, label)
    }
    // A failed primitive falls back to OpenBLAS, which would pass the comparison: none may have failed.
    XCTAssertEqual(OneDNN.shared?.failedProducts.isEmpty, true)
  }

  func testLinearAndGradientsMatchOpenBLAS() {
    func run(_ backend: KernelBackend) -> [Tensor] {
      KernelBackend.products.with(backend) {
        var input = Tensor.normal([2, 33, 80], seed: 1)
        var weight = Tensor.normal([96, 80], seed: 2)
        var bias = Tensor.normal([96], seed: 3)
        input.requiresGrad = true
        weight.requiresGrad = true
        bias.requiresGrad = true
        let output = Tensor.linear(input, weight: weight, bias: bias)
        (output * Tensor.normal(output.shape, seed: 4)).sum().backward()
        return [output, input.grad!, weight.grad!, bias.grad!]
      }
    }
    for (ours, oneDNN) in zip(run(.own), run(.onednn)) {
      XCTAssertEqual(ours.shape, oneDNN.shape)
      XCTAssertLessThan(zip(ours.scalars, oneDNN.scalars).map { abs($0 - $1) }.max() ?? 0, 1e-3)
    }
  }

  /// GELU (and GLIP's clamps around it) as post-ops of oneDNN's product against the linear layer, the clamps and our
  /// GELU one after another; under autograd the same ops are recorded, with the same gradients.
  func testLinearGELUMatchesItsSteps() {
    let input = Tensor.normal([2, 40, 512], seed: 5)
    let weight = Tensor.normal([520, 512], seed: 6) * 0.1
    let bias = Tensor.normal([520], seed: 7)
    for bound in [nil, Float(0.75)] {
      let steps = { (values: Tensor) in bound.map { values.clamp(min: -$0, max: $0) } ?? values }
      let expected = steps(steps(Tensor.linear(input, weight: weight, bias: bias)).gelu())
      let fused = KernelBackend.products.with(.onednn) {
        Tensor.linearGELU(input, weight: weight, bias: bias, clampBound: bound)
      }
      XCTAssertEqual(fused.shape, [2, 40, 520])
      XCTAssertLessThan(
        zip(fused.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? 1, 1e-4, "bound \(bound ?? 0)")
      let key = OneDNNMatMul.Key(
        false, true, 80, 520, 512, 512, 512, 520, hasBias: true, epilogue: .gelu(clampBound: bound),
        packsWeights: true)
      XCTAssertEqual(OneDNN.shared?.products.contains(key), true, "the product with its post-ops")
      if bound != nil {
        XCTAssertEqual(fused.scalars.max() ?? 0, 0.580_029_5, accuracy: 1e-5, "GELU of the clamp bound")
      }
    }
    XCTAssertEqual(OneDNN.shared?.failedProducts.isEmpty, true)

    var tracked = input
    tracked.requiresGrad = true
    let output = Tensor.linearGELU(tracked, weight: weight, bias: bias)
    XCTAssertEqual(output.gradOp, "gelu")
    output.sum().backward()
    var reference = input
    reference.requiresGrad = true
    Tensor.linear(reference, weight: weight, bias: bias).gelu().sum().backward()
    XCTAssertEqual(tracked.grad?.scalars, reference.grad?.scalars)
  }

  /// A linear layer of few rows reads its weight from a copy packed once in the product's blocked layout: the
  /// result matches OpenBLAS's, the copy is made once and reused, and a weight over the store's budget is read plain.
  func testFewRowsReadAPackedWeight() throws {
    let runtime = try XCTUnwrap(OneDNN.shared)
    let input = Tensor.normal([3, 40, 96], seed: 21)
    let weight = Tensor.normal([130, 96], seed: 22), bias = Tensor.normal([130], seed: 23)
    let expected = KernelBackend.products.with(.own) { Tensor.linear(input, weight: weight, bias: bias) }
    func copies() -> Int {
      runtime.lock.lock()
      defer { runtime.lock.unlock() }
      return runtime.packedWeightStore.count(derivedFrom: weight)
    }
    for _ in 0..<2 {
      let packed = KernelBackend.products.with(.onednn) { Tensor.linear(input, weight: weight, bias: bias) }
      XCTAssertLessThan(zip(packed.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? 1, 1e-4)
      XCTAssertEqual(copies(), 1)
    }
    let key = OneDNNMatMul.Key(false, true, 120, 130, 96, 96, 96, 130, hasBias: true, packsWeights: true)
    XCTAssertEqual(runtime.products.contains(key), true, "the product on the packed layout")
    runtime.lock.lock()
    XCTAssertFalse(runtime.admitsPackedWeights(Tensor.zeros([1]), floats: OneDNN.packedWeightFloats + 1))
    runtime.lock.unlock()
    XCTAssertEqual(runtime.failedProducts.isEmpty, true)
  }

  func testRulePlacesProductsAsMeasured() {
    func key(_ m: Int, _ n: Int, _ k: Int, transposeA: Bool = false) -> OneDNNMatMul.Key {
      OneDNNMatMul.Key(transposeA, true, m, n, k, transposeA ? m : k, k, n, hasBias: true)
    }
    XCTAssertTrue(OneDNNMatMul.prefers(key(256, 3072, 768)))
    XCTAssertTrue(OneDNNMatMul.prefers(key(1024, 1024, 1024)))
    XCTAssertFalse(OneDNNMatMul.prefers(key(256, 64, 256)), "one attention head")
    XCTAssertTrue(OneDNNMatMul.prefers(key(16384, 384, 96)), "Swin-T's stage-1 tokens")
    XCTAssertTrue(OneDNNMatMul.prefers(key(768, 3072, 256, transposeA: true)), "a weight gradient")
    XCTAssertFalse(OneDNNMatMul.prefers(key(4096, 32, 4096)), "a narrow product")
    KernelBackend.products.with(.own) { XCTAssertNil(KernelBackend.products.oneDNN { true }) }
  }
}
