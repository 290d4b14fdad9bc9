import Foundation
import Imaging
import TensorCore
import TensorCoreTestSupport
import XCTest

/// EXIF orientation and CMYK JPEGs against Pillow (`scripts/reference/exif_cmyk_images.py`).
final class OrientationAndCMYKTests: XCTestCase {
  private func expected(_ file: String) throws -> Tensor {
    let reference = try SafetensorsFile.read(path: Fixtures.path("images/expected_exif_cmyk.safetensors"))
    return try XCTUnwrap(reference[file.replacingOccurrences(of: ".", with: "_")], file)
  }

  private func assertPixels(_ file: String, tolerance: Float = 0, line: UInt = #line) throws {
    let image = try ImageIO.read(path: Fixtures.path("images/\(file)"))
    let pixels = try expected(file)
    XCTAssertEqual([image.height, image.width, 3], pixels.shape, file, line: line)
    let worst = zip(image.pixels, pixels.scalars).map { abs(Float($0) - $1) }.max() ?? 0
    XCTAssertLessThanOrEqual(worst, tolerance, "\(file): largest difference from Pillow", line: line)
  }

  func testEveryPNGOrientationMatchesPillowsExifTranspose() throws {
    for value in 2...8 { try assertPixels("exif_\(value).png") }
  }

  func testJPEGExifOrientationRotatesAPhoneStylePhoto() throws {
    try assertPixels("exif_6.jpg", tolerance: 1)
    let header = try ImageIO.header(path: Fixtures.path("images/exif_6.jpg"))
    XCTAssertEqual(header, ImageHeader(width: 16, height: 8, orientation: 6))
    XCTAssertTrue(header.orientedSize == (8, 16))
  }

  func testOrientationCanBeIgnoredForParityWithGLIPsLoader() throws {
    let stored = try ImageIO.read(path: Fixtures.path("images/exif_6.jpg"), exifOrientation: false)
    XCTAssertEqual([stored.width, stored.height], [16, 8])
    let png = try ImageIO.read(path: Fixtures.path("images/exif_8.png"), exifOrientation: false)
    XCTAssertEqual([png.width, png.height], [5, 3])
  }

  func testCMYKJPEGsDecodeToRGB() throws {
    try assertPixels("cmyk_adobe.jpg", tolerance: 1)
    try assertPixels("cmyk_plain.jpg", tolerance: 1)
  }

  func testHeadersGiveSizesWithoutDecoding() throws {
    XCTAssertEqual(
      try ImageIO.header(path: Fixtures.path("images/png_rgb8.png")), ImageHeader(width: 13, height: 9))
    XCTAssertEqual(
      try ImageIO.header(path: Fixtures.path("images/exif_5.png")), ImageHeader(width: 5, height: 3, orientation: 5))
    XCTAssertEqual(
      try ImageIO.header(path: Fixtures.path("images/jpeg_progressive.jpg")), ImageHeader(width: 64, height: 48))
    XCTAssertEqual(
      try ImageIO.header(path: Fixtures.path("images/cmyk_plain.jpg")), ImageHeader(width: 12, height: 10))
    XCTAssertThrowsError(try ImageIO.header(path: "missing.jpg")) { error in
      XCTAssertEqual("\(error)", "missing.jpg: cannot read file")
    }
  }

  /// A JPEG prefix with one APP1 Exif segment holding `tiff`.
  private func jpeg(exif tiff: [UInt8]) -> [UInt8] {
    let payload = Array("Exif".utf8) + [0, 0] + tiff
    let length = payload.count + 2
    return [0xFF, 0xD8, 0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload + [0xFF, 0xD9]
  }

  /// A TIFF block whose IFD0 has one entry.
  private func tiff(bigEndian: Bool, tag: UInt16 = 0x0112, type: UInt16 = 3, value: UInt16) -> [UInt8] {
    func u16(_ v: UInt16) -> [UInt8] {
      bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)]
    }
    func u32(_ v: UInt32) -> [UInt8] {
      let (high, low) = (u16(UInt16(v >> 16)), u16(UInt16(v & 0xFFFF)))
      return bigEndian ? high + low : low + high
    }
    let order: [UInt8] = bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]
    return order + u16(42) + u32(8) + u16(1) + u16(tag) + u16(type) + u32(1) + u16(value) + [0, 0] + u32(0)
  }

  func testBothByteOrdersAreRead() {
    XCTAssertEqual(ImageHeader.orientation(of: jpeg(exif: tiff(bigEndian: true, value: 6))), 6)
    XCTAssertEqual(ImageHeader.orientation(of: jpeg(exif: tiff(bigEndian: false, value: 8))), 8)
  }

  func testDamagedExifReadsAsOrientationOne() {
    let good = tiff(bigEndian: true, value: 6)
    XCTAssertEqual(ImageHeader.orientation(of: jpeg(exif: tiff(bigEndian: true, value: 9))), 1, "out of range")
    XCTAssertEqual(ImageHeader.orientation(of: jpeg(exif: tiff(bigEndian: true, tag: 0x0100, value: 6))), 1)
    XCTAssertEqual(ImageHeader.orientation(of: jpeg(exif: tiff(bigEndian: true, type: 2, value: 6))), 1)
    // The value ends at byte 20 of the block; any shorter block lacks it.
    for cut in 0..<20 {
      XCTAssertEqual(ImageHeader.orientation(of: jpeg(exif: Array(good.prefix(cut)))), 1, "cut at \(cut)")
    }
    var farOffset = good
    farOffset[4...7] = [0x7F, 0xFF, 0xFF, 0xFF]
    XCTAssertEqual(ImageHeader.orientation(of: jpeg(exif: farOffset)), 1)
    var manyEntries = good
    manyEntries[8...9] = [0xFF, 0xFF]
    XCTAssertEqual(
      ImageHeader.orientation(of: jpeg(exif: manyEntries)), 6, "the entry is read before the count runs out")
    var lying = jpeg(exif: good)
    lying[4...5] = [0xFF, 0xFF]
    XCTAssertEqual(ImageHeader.orientation(of: lying), 1, "a segment longer than the file")
    for cut in 0..<lying.count { _ = ImageHeader.parse(Array(jpeg(exif: good).prefix(cut))) }
  }

  func testOrientationsComposeToTheStoredImage() {
    let image = RGBImage(width: 3, height: 2, pixels: (0..<18).map(UInt8.init))
    XCTAssertEqual(image.oriented(6).oriented(8), image)
    XCTAssertEqual(image.oriented(3).oriented(3), image)
    XCTAssertEqual(image.oriented(5).oriented(5), image)
    XCTAssertEqual(image.oriented(7).oriented(7), image)
    XCTAssertEqual(image.oriented(1), image)
    XCTAssertEqual(image.oriented(42), image)
  }
}
