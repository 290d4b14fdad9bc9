import Foundation
import Imaging
import TensorCore
import TensorCoreTestSupport
import XCTest

/// Images whose header claims more pixels than `InputLimits.maxImagePixels` are refused before decoding.
final class HostileImageTests: XCTestCase {
  /// A PNG signature, an IHDR chunk claiming `width`×`height` 8-bit RGB and an empty IDAT chunk, with valid CRCs.
  private func pngHeader(width: UInt32, height: UInt32) -> Data {
    func bigEndian(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
    let header = Array("IHDR".utf8) + bigEndian(width) + bigEndian(height) + [8, 2, 0, 0, 0]
    let data = Array("IDAT".utf8)
    return Data(
      [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + bigEndian(13) + header + bigEndian(crc32(header))
        + bigEndian(0) + data + bigEndian(crc32(data)))
  }

  private func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
      crc ^= UInt32(byte)
      for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
  }

  func testPNGBombIsRefusedFromItsHeader() {
    for side: UInt32 in [20000, 32768, 65000] {
      XCTAssertThrowsError(try ImageIO.decode(pngHeader(width: side, height: side), path: "bomb.png")) { error in
        XCTAssertTrue("\(error)".hasPrefix("bomb.png: invalid PNG: image is \(side)x\(side) = "), "\(error)")
        XCTAssertTrue("\(error)".contains("above the limit of 67108864 (GLIP_MAX_IMAGE_PIXELS)"), "\(error)")
      }
    }
    XCTAssertThrowsError(try ImageIO.decode(pngHeader(width: 8, height: 8), path: "small.png")) { error in
      XCTAssertFalse("\(error)".contains("GLIP_MAX_IMAGE_PIXELS"), "a small image passes the limit: \(error)")
    }
  }

  func testJPEGClaimingHugeSizeIsRefusedFromItsHeader() throws {
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("images/jpeg_baseline.jpg"))))
    guard let marker = bytes.indices.dropLast().first(where: { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 }) else {
      return XCTFail("no SOF0 marker")
    }
    bytes.replaceSubrange((marker + 5)..<(marker + 9), with: [0xFD, 0xE8, 0xFD, 0xE8])  // 65000 × 65000
    XCTAssertThrowsError(try ImageIO.decode(Data(bytes), path: "huge.jpg")) { error in
      XCTAssertTrue(
        "\(error)".hasPrefix("huge.jpg: invalid JPEG: image is 65000x65000 = 4225000000 pixels"), "\(error)")
    }
  }
}
