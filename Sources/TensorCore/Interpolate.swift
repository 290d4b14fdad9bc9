import Foundation

/// Resampling of `[N, C, H, W]` maps with `F.interpolate`'s coordinate rules.
extension Tensor {
  public enum InterpolationMode: Sendable, Equatable {
    /// PyTorch 'nearest': source = floor(destination · in/out).
    case nearest
    /// Bilinear; with `alignCorners` the corner pixels' centres align, otherwise half-pixel centres are used.
    case bilinear(alignCorners: Bool)
  }

  /// `F.interpolate` to an explicit output size.
  public static func interpolate(_ input: Tensor, size: (Int, Int), mode: InterpolationMode) -> Tensor {
    precondition(input.rank == 4, "interpolate: input must be [N, C, H, W], got \(input.shape)")
    precondition(size.0 > 0 && size.1 > 0, "interpolate: output size must be positive, got \(size)")
    let scales = (Double(input.shape[2]) / Double(size.0), Double(input.shape[3]) / Double(size.1))
    return resample(input, size: size, mode: mode, scales: scales)
  }

  /// `F.interpolate` with a scale factor: output = floor(input · factor), and (as PyTorch does when it is not asked to
  /// recompute the scale) source coordinates use 1/factor.
  public static func interpolate(_ input: Tensor, scaleFactor: (Double, Double), mode: InterpolationMode) -> Tensor {
    precondition(input.rank == 4, "interpolate: input must be [N, C, H, W], got \(input.shape)")
    precondition(scaleFactor.0 > 0 && scaleFactor.1 > 0, "interpolate: scale factors must be positive")
    let size = (
      Int((Double(input.shape[2]) * scaleFactor.0).rounded(.down)),
      Int((Double(input.shape[3]) * scaleFactor.1).rounded(.down))
    )
    precondition(size.0 > 0 && size.1 > 0, "interpolate: scale \(scaleFactor) gives an empty output for \(input.shape)")
    return resample(input, size: size, mode: mode, scales: (1 / scaleFactor.0, 1 / scaleFactor.1))
  }

  /// For each output index along one axis: two source indices and their weights.
  struct AxisSampling {
    var low: [Int], high: [Int], highWeight: [Float]
  }

  static func axisSampling(inSize: Int, outSize: Int, scale: Double, mode: InterpolationMode) -> AxisSampling {
    var sampling = AxisSampling(
      low: .init(repeating: 0, count: outSize), high: .init(repeating: 0, count: outSize),
      highWeight: .init(repeating: 0, count: outSize))
    for index in 0..<outSize {
      switch mode {
      case .nearest:
        let source = Swift.min(Int((Double(index) * scale).rounded(.down)), inSize - 1)
        sampling.low[index] = source
        sampling.high[index] = source
      case .bilinear(let alignCorners):
        let source: Double
        if alignCorners {
          source = outSize > 1 ? Double(index) * Double(inSize - 1) / Double(outSize - 1) : 0
        } else {
          source = Swift.max((Double(index) + 0.5) * scale - 0.5, 0)
        }
        let low = Swift.min(Int(source.rounded(.down)), inSize - 1)
        sampling.low[index] = low
        sampling.high[index] = Swift.min(low + 1, inSize - 1)
        sampling.highWeight[index] = Float(source - Double(low))
      }
    }
    return sampling
  }

  private static func resample(_ input: Tensor, size: (Int, Int), mode: InterpolationMode, scales: (Double, Double))
    -> Tensor
  {
    let (planes, height, width) = (input.shape[0] * input.shape[1], input.shape[2], input.shape[3])
    let rows = axisSampling(inSize: height, outSize: size.0, scale: scales.0, mode: mode)
    let columns = axisSampling(inSize: width, outSize: size.1, scale: scales.1, mode: mode)
    let output = Tensor(uninitializedShape: [input.shape[0], input.shape[1], size.0, size.1])
    let (source, out) = (input.data, output.mutableData)
    Parallel.forEach(planes, costPerItem: size.0 * size.1 * 4) { plane in
      let planeIn = source + plane * height * width
      let planeOut = out + plane * size.0 * size.1
      for y in 0..<size.0 {
        let (top, bottom, wy) = (planeIn + rows.low[y] * width, planeIn + rows.high[y] * width, rows.highWeight[y])
        for x in 0..<size.1 {
          let (left, right, wx) = (columns.low[x], columns.high[x], columns.highWeight[x])
          let upper = top[left] + (top[right] - top[left]) * wx
          let lower = bottom[left] + (bottom[right] - bottom[left]) * wx
          planeOut[y * size.1 + x] = upper + (lower - upper) * wy
        }
      }
    }
    let inputShape = input.shape
    return record("interpolate", output: output, inputs: [input]) { grad in
      let inputGrad = Tensor.zeros(inputShape)
      let (gradData, target) = (grad.data, inputGrad.mutableData)
      Parallel.forEach(planes, costPerItem: size.0 * size.1 * 4) { plane in
        let planeGrad = target + plane * height * width
        let planeOutGrad = gradData + plane * size.0 * size.1
        for y in 0..<size.0 {
          let (top, bottom, wy) = (rows.low[y] * width, rows.high[y] * width, rows.highWeight[y])
          for x in 0..<size.1 {
            let (left, right, wx) = (columns.low[x], columns.high[x], columns.highWeight[x])
            let value = planeOutGrad[y * size.1 + x]
            planeGrad[top + left] += value * (1 - wy) * (1 - wx)
            planeGrad[top + right] += value * (1 - wy) * wx
            planeGrad[bottom + left] += value * wy * (1 - wx)
            planeGrad[bottom + right] += value * wy * wx
          }
        }
      }
      return [inputGrad]
    }
  }
}
