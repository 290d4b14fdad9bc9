import Foundation
import Imaging
import TensorCore
import TensorCoreTestSupport
import XCTest

final class DecodingTests: XCTestCase {
  private func expected() throws -> SafetensorsFile {
    try SafetensorsFile.read(path: Fixtures.path("images/expected.safetensors"))
  }

  func testPNGVariantsEqualPILPixels() throws {
    let reference = try expected()
    let names = reference.names.filter { $0.hasPrefix("png_") }
    XCTAssertEqual(names.count, 12)
    for name in names {
      let image = try ImageIO.read(path: Fixtures.path("images/\(name).png"))
      let pixels = reference[name]!
      XCTAssertEqual([image.height, image.width, 3], pixels.shape, name)
      XCTAssertEqual(image.pixels.map(Float.init), pixels.scalars, name)
    }
  }

  func testJPEGVariantsAreWithinOneOfPIL() throws {
    let reference = try expected()
    let names = reference.names.filter { $0.hasPrefix("jpeg_") }
    XCTAssertEqual(names.count, 4)
    for name in names {
      let image = try ImageIO.read(path: Fixtures.path("images/\(name).jpg"))
      let pixels = reference[name]!
      XCTAssertEqual([image.height, image.width, 3], pixels.shape, name)
      let worst = zip(image.pixels, pixels.scalars).map { abs(Float($0) - $1) }.max() ?? 0
      XCTAssertLessThanOrEqual(worst, 1, "\(name): largest difference from PIL")
    }
  }

  func testCorruptAndTruncatedFilesAreClearErrors() throws {
    let png = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("images/png_rgb8.png")))
    XCTAssertThrowsError(try ImageIO.decode(png.prefix(png.count / 2), path: "half.png")) { error in
      XCTAssertTrue("\(error)".hasPrefix("half.png: invalid PNG: "), "\(error)")
    }
    var corrupted = png
    corrupted[40] ^= 0xFF
    XCTAssertThrowsError(try ImageIO.decode(corrupted, path: "flipped.png")) { error in
      XCTAssertTrue("\(error)".hasPrefix("flipped.png: invalid PNG: "), "\(error)")
    }
    let jpeg = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("images/jpeg_baseline.jpg")))
    XCTAssertThrowsError(try ImageIO.decode(jpeg.prefix(jpeg.count / 2), path: "half.jpg")) { error in
      XCTAssertTrue("\(error)".hasPrefix("half.jpg: invalid JPEG: "), "\(error)")
    }
    XCTAssertThrowsError(try ImageIO.decode(Data("hello".utf8), path: "text.png")) { error in
      XCTAssertEqual("\(error)", "text.png: not a PNG or JPEG file")
    }
    XCTAssertThrowsError(try ImageIO.read(path: "missing.png")) { error in
      XCTAssertEqual("\(error)", "missing.png: cannot read file")
    }
  }

  func testPNGRoundTrip() throws {
    let image = try ImageIO.read(path: Fixtures.path("images/png_rgb8_interlaced.png"))
    let decoded = try ImageIO.decode(try ImageIO.encodePNG(image))
    XCTAssertEqual(decoded, image)
  }
}
