import Foundation
import Imaging
import TensorCore
import TensorCoreTestSupport
import XCTest

final class TransformTests: XCTestCase {
  func testPixelFormatsRoundTripAndFollowChannelOrder() throws {
    let image = try ImageIO.read(path: Fixtures.path("images/png_rgb8.png"))
    for format in [PixelFormat.torchvision, .glip] {
      let tensor = ImageTransforms.tensor(image, format: format)
      XCTAssertEqual(tensor.shape, [3, image.height, image.width])
      XCTAssertEqual(ImageTransforms.image(tensor, format: format), image)
    }
    let (r, _, b) = image[3, 2]
    let glip = ImageTransforms.tensor(image, format: .glip)
    XCTAssertEqual(
      glip[flat: 0 * image.width * image.height + 2 * image.width + 3], (Float(b) - 103.53) / 57.375, accuracy: 1e-4)
    let torchvision = ImageTransforms.tensor(image, format: .torchvision)
    XCTAssertEqual(
      torchvision[flat: 2 * image.width + 3], (Float(r) / 255 - 0.485) / 0.229, accuracy: 1e-5)
  }

  func testShorterSideRuleMatchesGLIP() {
    XCTAssertEqual(ImageTransforms.shorterSideSize(width: 640, height: 480, shorter: 800, maxSize: 1333).width, 1066)
    XCTAssertEqual(ImageTransforms.shorterSideSize(width: 640, height: 480, shorter: 800, maxSize: 1333).height, 800)
    let capped = ImageTransforms.shorterSideSize(width: 2000, height: 500, shorter: 800, maxSize: 1333)
    XCTAssertEqual([capped.width, capped.height], [1332, 333])
    let kept = ImageTransforms.shorterSideSize(width: 300, height: 800, shorter: 300, maxSize: nil)
    XCTAssertEqual([kept.width, kept.height], [300, 800])
  }

  func testFlipMirrorsPixelsAndBoxes() {
    let tensor = Tensor.arange(12).reshaped([1, 2, 6])
    let (flipped, boxes) = ImageTransforms.horizontalFlip(tensor, boxes: [[1, 0, 3, 2]])
    XCTAssertEqual(flipped.scalars, [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6])
    XCTAssertEqual(boxes, [[3, 0, 5, 2]])
  }

  func testBatchingPadsToMultiplesOf32WithAValidityMask() {
    let (images, mask) = ImageTransforms.batch([Tensor.ones([3, 40, 20]), Tensor.ones([3, 10, 70])])
    XCTAssertEqual(images.shape, [2, 3, 64, 96])
    XCTAssertEqual(mask.shape, [2, 64, 96])
    XCTAssertEqual(mask.sum().item, Float(40 * 20 + 10 * 70))
    XCTAssertEqual(images.sum().item, Float(3 * (40 * 20 + 10 * 70)))
  }

  func testDrawingPutsBoxesAndLabelsOnTheImage() throws {
    var canvas = RGBImage(width: 80, height: 60, fill: (10, 10, 10))
    Drawing.labelledBox(&canvas, [20, 25, 70, 55], label: "red circle 0.93", color: Drawing.palette[0])
    XCTAssertTrue(canvas[20, 40] == Drawing.palette[0], "left edge drawn")
    XCTAssertTrue(canvas[45, 40] == (10, 10, 10), "inside untouched")
    XCTAssertTrue(canvas[22, 16] == Drawing.palette[0] || canvas[22, 16] == (255, 255, 255), "tag above the box")
    let decoded = try ImageIO.decode(try ImageIO.encodePNG(canvas))
    XCTAssertEqual(decoded, canvas)
  }
}
