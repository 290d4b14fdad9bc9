/// Pillow's bilinear resize of 8-bit images (`Image.resize(size, Image.BILINEAR)`), reproduced to the byte: the
/// filter widens with the scale when shrinking (antialiasing), coefficients are normalised per output pixel and
/// quantised to 22-bit fixed point, and the image is resampled horizontally, rounded to 8 bits, then vertically.
/// GLIP's and torchvision's PIL loaders size images this way, so official checkpoints see exactly these pixels.
public enum PillowResampling {
  /// Fixed-point precision of the coefficients (Pillow's `PRECISION_BITS`: 32 − 8 − 2).
  static let precisionBits = 22

  /// The taps of one output pixel: the first input index and the fixed-point weights.
  struct Taps {
    var start: Int
    var weights: [Int32]
  }

  /// `image` resized to `width` × `height` with Pillow's bilinear filter.
  public static func bilinear(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
    precondition(width > 0 && height > 0, "PillowResampling: empty output size \(width)×\(height)")
    var result = image
    if width != image.width { result = horizontal(result, taps: taps(input: image.width, output: width)) }
    if height != image.height { result = vertical(result, taps: taps(input: image.height, output: height)) }
    return result
  }

  /// The triangle filter of support 1.
  static func triangle(_ x: Double) -> Double {
    let distance = abs(x)
    return distance < 1 ? 1 - distance : 0
  }

  /// Each output pixel's taps over an input axis of `input` pixels (Pillow's `precompute_coeffs` and
  /// `normalize_coeffs_8bpc`).
  static func taps(input: Int, output: Int) -> [Taps] {
    let scale = Double(input) / Double(output)
    let filterScale = max(scale, 1)
    let support = filterScale  // the triangle's support (1) times the filter scale
    return (0..<output).map { index in
      let centre = (Double(index) + 0.5) * scale
      let first = max(Int(centre - support + 0.5), 0)
      let end = min(Int(centre + support + 0.5), input)
      var weights = (first..<end).map { triangle((Double($0) - centre + 0.5) / filterScale) }
      let total = weights.reduce(0, +)
      if total != 0 { weights = weights.map { $0 / total } }
      let unit = Double(1 << precisionBits)
      return Taps(
        start: first, weights: weights.map { Int32(($0 < 0 ? -0.5 : 0.5) + $0 * unit) })
    }
  }

  /// A fixed-point sum back to 8 bits, rounded (the sums start at one half) and clamped.
  @inline(__always)
  static func clamp8(_ sum: Int64) -> UInt8 {
    let value = sum >> Int64(precisionBits)
    return UInt8(truncatingIfNeeded: max(0, min(255, value)))
  }

  static func horizontal(_ image: RGBImage, taps: [Taps]) -> RGBImage {
    let (width, height) = (taps.count, image.height)
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    let half = Int64(1) << Int64(precisionBits - 1)
    image.pixels.withUnsafeBufferPointer { source in
      pixels.withUnsafeMutableBufferPointer { target in
        for row in 0..<height {
          let inputRow = row * image.width * 3
          for (column, tap) in taps.enumerated() {
            for channel in 0..<3 {
              var sum = half
              for (offset, weight) in tap.weights.enumerated() {
                sum += Int64(source[inputRow + (tap.start + offset) * 3 + channel]) * Int64(weight)
              }
              target[(row * width + column) * 3 + channel] = clamp8(sum)
            }
          }
        }
      }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
  }

  static func vertical(_ image: RGBImage, taps: [Taps]) -> RGBImage {
    let (width, height) = (image.width, taps.count)
    let rowLength = width * 3
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    let half = Int64(1) << Int64(precisionBits - 1)
    image.pixels.withUnsafeBufferPointer { source in
      pixels.withUnsafeMutableBufferPointer { target in
        var sums = [Int64](repeating: 0, count: rowLength)
        for (row, tap) in taps.enumerated() {
          for index in 0..<rowLength { sums[index] = half }
          for (offset, weight) in tap.weights.enumerated() {
            let inputRow = (tap.start + offset) * rowLength
            for index in 0..<rowLength { sums[index] += Int64(source[inputRow + index]) * Int64(weight) }
          }
          for index in 0..<rowLength { target[row * rowLength + index] = clamp8(sums[index]) }
        }
      }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
  }
}
