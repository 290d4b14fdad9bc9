import Foundation
import TensorCore

/// Image transforms with the reference definitions: tensor conversion in a backbone's pixel format, bilinear resize
/// (`F.interpolate`, half-pixel centres), GLIP's shorter-side/max-size rule, horizontal flip with boxes, padding to a
/// multiple of 32 and batching with a validity mask.
public enum ImageTransforms {
  /// `[3, H, W]` floats in the pixel format: channel order, value range, then (x − mean) / std.
  public static func tensor(_ image: RGBImage, format: PixelFormat) -> Tensor {
    let area = image.width * image.height
    let result = Tensor(uninitializedShape: [3, image.height, image.width])
    let out = result.mutableData
    let order = format.channelOrder == .rgb ? [0, 1, 2] : [2, 1, 0]
    image.pixels.withUnsafeBufferPointer { pixels in
      for channel in 0..<3 {
        let source = order[channel]
        let scale = format.scale / 255 / format.std[channel]
        let shift = format.mean[channel] / format.std[channel]
        let plane = out + channel * area
        for index in 0..<area { plane[index] = Float(pixels[index * 3 + source]) * scale - shift }
      }
    }
    return result
  }

  /// Undoes `tensor(_:format:)` (clamped and rounded), for drawing on what the model saw.
  public static func image(_ tensor: Tensor, format: PixelFormat) -> RGBImage {
    precondition(tensor.rank == 3 && tensor.shape[0] == 3, "image: expected [3, H, W], got \(tensor.shape)")
    let (height, width) = (tensor.shape[1], tensor.shape[2])
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    let order = format.channelOrder == .rgb ? [0, 1, 2] : [2, 1, 0]
    for channel in 0..<3 {
      for index in 0..<(width * height) {
        let value =
          (tensor[flat: channel * width * height + index] * format.std[channel] + format.mean[channel])
          * 255 / format.scale
        pixels[index * 3 + order[channel]] = UInt8(max(0, min(255, value.rounded())))
      }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
  }

  /// Bilinear resize of `[C, H, W]` or `[N, C, H, W]` (F.interpolate, align_corners false).
  public static func resize(_ tensor: Tensor, height: Int, width: Int) -> Tensor {
    if tensor.rank == 3 {
      return Tensor.interpolate(tensor.unsqueezed(0), size: (height, width), mode: .bilinear(alignCorners: false))
        .squeezed(0)
    }
    return Tensor.interpolate(tensor, size: (height, width), mode: .bilinear(alignCorners: false))
  }

  /// GLIP's target size: the shorter side becomes `shorter`, unless the longer side would exceed `maxSize`, in which
  /// case the shorter side shrinks to keep the longer at `maxSize` (maskrcnn_benchmark's `get_size`).
  public static func shorterSideSize(width: Int, height: Int, shorter: Int, maxSize: Int?) -> (width: Int, height: Int)
  {
    var size = Double(shorter)
    let (small, large) = (Double(min(width, height)), Double(max(width, height)))
    if let maxSize, large / small * size > Double(maxSize) { size = (Double(maxSize) * small / large).rounded() }
    if (width <= height && width == Int(size)) || (height <= width && height == Int(size)) { return (width, height) }
    if width < height {
      return (Int(size), Int(size * Double(height) / Double(width)))
    }
    return (Int(size * Double(width) / Double(height)), Int(size))
  }

  /// Mirrors `[C, H, W]` left–right and its `(x1, y1, x2, y2)` boxes.
  public static func horizontalFlip(_ tensor: Tensor, boxes: [[Float]]) -> (Tensor, [[Float]]) {
    let width = tensor.shape[tensor.rank - 1]
    let flipped = tensor.indexSelect(axis: -1, indices: Tensor((0..<width).reversed().map(Float.init)))
    return (flipped, boxes.map { [Float(width) - $0[2], $0[1], Float(width) - $0[0], $0[3]] })
  }

  /// Pads `[C, H, W]` images with zeros at the bottom and right to a common size divisible by `divisor`, and returns
  /// the batch `[N, C, H', W']` with a validity mask `[N, H', W']` (1 on real pixels).
  public static func batch(_ images: [Tensor], divisor: Int = 32) -> (images: Tensor, mask: Tensor) {
    precondition(!images.isEmpty, "batch: no images")
    func roundUp(_ value: Int) -> Int { (value + divisor - 1) / divisor * divisor }
    let height = roundUp(images.map { $0.shape[1] }.max()!), width = roundUp(images.map { $0.shape[2] }.max()!)
    let padded = images.map { $0.padded([0, width - $0.shape[2], 0, height - $0.shape[1]]) }
    let masks = images.map {
      Tensor.ones([$0.shape[1], $0.shape[2]]).padded([0, width - $0.shape[2], 0, height - $0.shape[1]])
    }
    return (Tensor.stack(padded, axis: 0), Tensor.stack(masks, axis: 0))
  }
}
