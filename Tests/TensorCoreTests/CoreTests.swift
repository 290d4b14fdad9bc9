import Foundation
import TensorCore
import TensorCoreTestSupport
import XCTest

final class CoreTests: XCTestCase {
  func testMatchesPyTorchFixtures() throws {
    try OpFixtures.run(group: "core") { fixture, inputs in
      switch fixture.op {
      case "arange": return [Tensor.arange(fixture.float("start"), fixture.float("end"), step: fixture.float("step"))]
      case "reshape": return [inputs[0].reshaped(fixture.ints("shape"))]
      default: return nil
      }
    }
  }

  func testReshapeGradientMatchesFiniteDifferences() {
    GradientChecker.check([Tensor.normal([2, 6], seed: 3)]) { $0[0].reshaped([3, -1]) * Tensor.arange(4) }
  }

  func testReshapeSharesStorageUntilWritten() {
    let original = Tensor.arange(6)
    var reshaped = original.reshaped([2, 3])
    reshaped[flat: 0] = 42
    XCTAssertEqual(original[flat: 0], 0)
    XCTAssertEqual(reshaped.shape, [2, 3])
  }

  func testBackwardThroughSharedSubgraphVisitsEachNodeOnce() {
    var x = Tensor(shape: [2], values: [1, 2])
    x.requiresGrad = true
    let shared = x * x
    let y = (shared + shared * 3).sum()
    y.backward()
    assertClose(x.grad!, [8, 16])
  }

  func testSafetensorsRoundTripAndErrors() throws {
    let path = NSTemporaryDirectory() + "roundtrip-\(getpid()).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let file = SafetensorsFile(
      tensors: ["a.weight": Tensor.normal([2, 3], seed: 1), "b": Tensor(scalar: 5)], metadata: ["format": "pt"])
    try file.write(path: path)
    let loaded = try SafetensorsFile.read(path: path)
    XCTAssertEqual(loaded.names, ["a.weight", "b"])
    XCTAssertEqual(loaded["a.weight"]?.scalars, file["a.weight"]?.scalars)
    XCTAssertEqual(loaded["b"]?.shape, [])
    XCTAssertEqual(loaded.metadata["format"], "pt")

    var truncated = try Data(contentsOf: URL(fileURLWithPath: path))
    truncated.removeLast(4)
    XCTAssertThrowsError(try SafetensorsFile.parse(truncated, path: "model.safetensors")) { error in
      XCTAssertTrue("\(error)".hasPrefix("model.safetensors: tensor"), "\(error)")
    }
    XCTAssertThrowsError(try SafetensorsFile.parse(Data([1, 2, 3]), path: "tiny.safetensors")) { error in
      XCTAssertTrue("\(error)".contains("too short"), "\(error)")
    }
    XCTAssertThrowsError(try SafetensorsFile.read(path: path + ".missing")) { error in
      XCTAssertTrue("\(error)".contains(".missing: cannot read file"), "\(error)")
    }
  }

  func testHalfPrecisionDecoding() throws {
    // F16 values 1.0 (0x3C00), -2.0 (0xC000), 2^-24 (0x0001) and BF16 1.5 (0x3FC0).
    let header = #"{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[6,8]}}"#
    var data = Data()
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(header.data(using: .utf8)!)
    data.append(contentsOf: [0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00, 0xC0, 0x3F])
    let file = try SafetensorsFile.parse(data)
    XCTAssertEqual(file["h"]?.scalars, [1, -2, Float(sign: .plus, exponent: -24, significand: 1)])
    XCTAssertEqual(file["b"]?.scalars, [1.5])
  }
}
