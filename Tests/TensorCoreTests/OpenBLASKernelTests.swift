import Foundation
import XCTest

@testable import TensorCore

final class OpenBLASKernelTests: XCTestCase {
  let avx512 = Set(["sse3", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"])

  func testTheGenericFallbackIsReplacedByTheCPUsBestKernel() {
    XCTAssertEqual(OpenBLASKernel.replacement(detected: "Prescott", flags: avx512)?.kernel, "SkylakeX")
    XCTAssertEqual(
      OpenBLASKernel.replacement(detected: "Prescott", flags: avx512.union(["avx512_bf16"]))?.kernel, "SkylakeX")
    XCTAssertEqual(OpenBLASKernel.replacement(detected: "Core2", flags: ["avx", "avx2", "fma"])?.kernel, "Haswell")
    XCTAssertEqual(
      OpenBLASKernel.replacement(detected: "Sandybridge", flags: ["avx", "avx2", "fma", "avx512f"])?.kernel, "Haswell",
      "AVX-512 without BW, VL, DQ and CD is not SkylakeX's instruction set")
  }

  func testARecognisedVectorKernelOrAnOldCPUIsLeftAlone() {
    for kernel in ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SAPPHIRERAPIDS"] {
      XCTAssertNil(OpenBLASKernel.replacement(detected: kernel, flags: avx512), kernel)
    }
    XCTAssertNil(OpenBLASKernel.replacement(detected: "Prescott", flags: ["sse3", "avx"]))
    XCTAssertNil(OpenBLASKernel.replacement(detected: "Prescott", flags: ["avx2"]), "AVX2 without FMA")
  }

  func testFlagsComeFromTheFirstProcessor() {
    let cpuinfo = """
      processor\t: 0
      model name\t: Some CPU
      flags\t\t: fpu sse3 avx2 fma avx512f
      processor\t: 1
      flags\t\t: fpu
      """
    XCTAssertEqual(OpenBLASKernel.cpuFlags(cpuinfo: cpuinfo), ["fpu", "sse3", "avx2", "fma", "avx512f"])
    XCTAssertEqual(OpenBLASKernel.cpuFlags(cpuinfo: "processor\t: 0\n"), [])
  }

  /// On this machine: whenever the rule asks for a replacement, products run on a vector kernel afterwards, and the
  /// environment is as it was.
  func testTheSelectionOnThisMachine() throws {
    let selection = OpenBLASKernel.selection
    XCTAssertEqual(BLAS.coreName, selection.active)
    if let requested = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] {
      XCTAssertEqual(selection.active, selection.detected, "OPENBLAS_CORETYPE leaves the choice to OpenBLAS")
      XCTAssertTrue(selection.summary.hasSuffix("OPENBLAS_CORETYPE=\(requested))"), selection.summary)
      return
    }
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
      OpenBLASKernel.replacement(detected: selection.detected, flags: OpenBLASKernel.cpuFlags(cpuinfo: cpuinfo))
        != nil
    else {
      XCTAssertEqual(selection.active, selection.detected)
      return
    }
    XCTAssertTrue(OpenBLASKernel.vectorKernels.contains(selection.active.lowercased()), selection.summary)
    XCTAssertNotNil(selection.note)
    XCTAssertNil(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], "the variable is removed again")
    let a = Tensor.normal([96, 80], seed: 1), b = Tensor.normal([80, 72], seed: 2)
    let product = withNoGrad { a.matmul(b) }
    var largest: Float = 0
    for row in 0..<96 {
      for column in 0..<72 {
        var sum: Float = 0
        for inner in 0..<80 { sum += a[flat: row * 80 + inner] * b[flat: inner * 72 + column] }
        largest = max(largest, abs(sum - product[flat: row * 72 + column]))
      }
    }
    XCTAssertLessThan(largest, 1e-3, "products on \(selection.active)")
  }
}
