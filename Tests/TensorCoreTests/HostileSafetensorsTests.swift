import Foundation
import TensorCore
import XCTest

/// Safetensors headers that lie about shapes, and writes that fail part-way.
final class HostileSafetensorsTests: XCTestCase {
  private func file(header: String, payload: Int = 0) -> Data {
    var data = Data(withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) })
    data.append(Data(header.utf8))
    data.append(Data(count: payload))
    return data
  }

  func testShapesThatOverflowOrExceedTheLimitAreRefused() {
    let cases = [
      (#"{"t": {"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 0]}}"#, "more than 2147483648"),
      (#"{"t": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}}"#, "more than"),
      (#"{"t": {"dtype": "F32", "shape": [-1, 4], "data_offsets": [0, 16]}}"#, "negative extent"),
      (#"{"t": {"dtype": "F32", "shape": [true], "data_offsets": [0, 4]}}"#, "malformed header entry"),
      (#"{"t": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}"#, "malformed header entry"),
    ]
    for (header, expected) in cases {
      XCTAssertThrowsError(try SafetensorsFile.parse(file(header: header, payload: 16), path: "x.safetensors")) {
        XCTAssertTrue("\($0)".hasPrefix("x.safetensors: tensor 't': "), "\($0)")
        XCTAssertTrue("\($0)".contains(expected), "\(header): \($0)")
      }
    }
  }

  func testElementCountIsOverflowSafe() {
    XCTAssertEqual(InputLimits.elementCount([2, 3, 4]), 24)
    XCTAssertEqual(InputLimits.elementCount([]), 1)
    XCTAssertEqual(InputLimits.elementCount([0, Int.max]), 0)
    XCTAssertNil(InputLimits.elementCount([1 << 62, 4], limit: .max))
    XCTAssertNil(InputLimits.elementCount([-2, -2], limit: .max))
  }

  /// A full disk mid-write (writes into /dev/full fail with ENOSPC) leaves the previous file as it was.
  func testFailedWriteKeepsThePreviousFile() throws {
    try XCTSkipUnless(FileManager.default.fileExists(atPath: "/dev/full"), "needs /dev/full")
    let path = NSTemporaryDirectory() + "atomic-\(UUID().uuidString).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let previous = SafetensorsFile(tensors: ["w": Tensor([1, 2, 3])])
    try previous.write(path: path)
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    let temporary = path + ".tmp-\(getpid())"
    try FileManager.default.createSymbolicLink(atPath: temporary, withDestinationPath: "/dev/full")
    XCTAssertThrowsError(try SafetensorsFile(tensors: ["w": Tensor([4, 5, 6, 7])]).write(path: path)) { error in
      XCTAssertTrue("\(error)".hasPrefix("\(path): cannot write "), "\(error)")
      XCTAssertTrue("\(error)".contains("No space left on device"), "\(error)")
      XCTAssertTrue("\(error)".hasSuffix("any previous file at this path is unchanged"), "\(error)")
    }
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
    XCTAssertFalse(FileManager.default.fileExists(atPath: temporary), "the temporary file is removed")
    XCTAssertEqual(try SafetensorsFile.read(path: path)["w"]?.scalars, [1, 2, 3])
  }
}
