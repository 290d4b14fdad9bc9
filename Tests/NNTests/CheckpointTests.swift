import Foundation
import NN
import TensorCore
import TensorCoreTestSupport
import XCTest

final class CheckpointTests: XCTestCase {
  private var repository: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  }

  func testZipAndLegacyFormatsMatchPyTorch() throws {
    let expected = try SafetensorsFile.read(path: Fixtures.path("checkpoints/expected.safetensors"))
    for format in ["zip", "legacy"] {
      let tensors = try PyTorchCheckpoint.read(path: Fixtures.path("checkpoints/\(format).pth"))
      XCTAssertEqual(Set(tensors.keys), Set(expected.tensors.keys), format)
      for (key, value) in expected.tensors {
        XCTAssertEqual(tensors[key]?.shape, value.shape, "\(format) \(key)")
        XCTAssertEqual(tensors[key]?.scalars, value.scalars, "\(format) \(key)")
      }
      XCTAssertEqual(PyTorchCheckpoint.stateDict(from: tensors).keys.sorted().first, "bf16")
    }
  }

  func testForeignGlobalsAreRefusedByName() {
    XCTAssertThrowsError(try PyTorchCheckpoint.read(path: Fixtures.path("checkpoints/evil.pth"))) { error in
      XCTAssertTrue("\(error)".contains("posix.system, which is not allowed"), "\(error)")
      XCTAssertTrue("\(error)".contains("evil.pth"), "\(error)")
    }
    XCTAssertThrowsError(try PyTorchCheckpoint.read(path: "nowhere.pth")) { error in
      XCTAssertEqual("\(error)", "nowhere.pth: file not found")
    }
  }

  func testTruncatedCheckpointIsAnErrorNotACrash() throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoints/legacy.pth")))
    let path = NSTemporaryDirectory() + "truncated-\(getpid()).pth"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try data.prefix(data.count - 40).write(to: URL(fileURLWithPath: path))
    XCTAssertThrowsError(try PyTorchCheckpoint.read(path: path)) { error in
      XCTAssertTrue("\(error)".hasPrefix(path + ":"), "\(error)")
    }
  }

  func testTorchvisionMobileNetV2WeightsReadExactly() throws {
    let path = try Fixtures.pretrained("mobilenet_v2-b0353104.pth")
    struct Summary: Decodable {
      let shape: [Int]
      let sum: Double
    }
    let expected = try JSONDecoder().decode(
      [String: Summary].self,
      from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoints/mobilenet_v2_sums.json"))))
    let tensors = try PyTorchCheckpoint.read(path: path)
    XCTAssertEqual(Set(tensors.keys), Set(expected.keys))
    for (key, summary) in expected {
      let tensor = try XCTUnwrap(tensors[key])
      XCTAssertEqual(tensor.shape, summary.shape, key)
      let total = tensor.scalars.reduce(0.0) { $0 + Double($1) }
      XCTAssertEqual(total, summary.sum, accuracy: 1e-6 * max(1, abs(summary.sum)) + 1e-4, key)
    }
  }
}
