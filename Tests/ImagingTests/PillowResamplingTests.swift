import Foundation
import Imaging
import TensorCore
import TensorCoreTestSupport
import XCTest

/// Pillow's bilinear resize (GLIP's loader) against Pillow itself (scripts/reference/pillow_resize.py).
final class PillowResamplingTests: XCTestCase {
  func image(_ tensor: Tensor) -> RGBImage {
    RGBImage(width: tensor.shape[1], height: tensor.shape[0], pixels: tensor.scalars.map { UInt8($0) })
  }

  func testBilinearResizeEqualsPillowByteForByte() throws {
    let fixture = try SafetensorsFile.read(path: Fixtures.path("images/pillow_bilinear.safetensors"))
    let input = image(fixture["input"]!)
    let cases = fixture.tensors.keys.filter { $0.hasPrefix("w") }.sorted()
    XCTAssertEqual(cases.count, 8)
    for name in cases {
      let expected = image(fixture[name]!)
      let resized = PillowResampling.bilinear(input, width: expected.width, height: expected.height)
      let differing = zip(resized.pixels, expected.pixels).filter { $0 != $1 }.count
      XCTAssertEqual(differing, 0, "\(name): \(differing) of \(expected.pixels.count) bytes differ from Pillow")
    }
  }

  func testResizingToTheSameSizeKeepsTheImage() throws {
    let fixture = try SafetensorsFile.read(path: Fixtures.path("images/pillow_bilinear.safetensors"))
    let input = image(fixture["input"]!)
    XCTAssertEqual(PillowResampling.bilinear(input, width: input.width, height: input.height), input)
  }
}
