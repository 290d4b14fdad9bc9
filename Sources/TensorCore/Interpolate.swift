import Foundation

/// Resampling of `[N, C, H, W]` maps with `F.interpolate`'s coordinate rules.
extension Tensor {
  public enum InterpolationMode: Sendable, Equatable {
    /// PyTorch 'nearest': source = floor(destination · in/out).
    case nearest
    /// Bilinear; with `alignCorners` the corner pixels' centres align, otherwise half-pixel centres are used.
    case bilinear(alignCorners: Bool)
  }

  /// `F.interpolate` to an explicit output size: input `[N, C, H, W]` → `[N, C, size.0, size.1]`.
  /// Source coordinates use the scale `in / out` (in Float32, as PyTorch computes it for float inputs).
  public static func interpolate(_ input: Tensor, size: (Int, Int), mode: InterpolationMode) -> Tensor {
    precondition(input.rank == 4, "interpolate: input must be [N, C, H, W], got \(input.shape)")
    precondition(size.0 > 0 && size.1 > 0, "interpolate: output size must be positive, got \(size)")
    let scales = (Float(input.shape[2]) / Float(size.0), Float(input.shape[3]) / Float(size.1))
    return resample(input, size: size, mode: mode, scales: scales)
  }

  /// `F.interpolate` with a scale factor: input `[N, C, H, W]` → `[N, C, floor(H·factor.0), floor(W·factor.1)]`.
  /// As PyTorch does when it is not asked to recompute the scale, source coordinates use 1/factor rather than
  /// in/out, except along an axis whose size does not change, which is copied (and, for nearest, an axis whose size
  /// exactly doubles takes source `destination / 2`).
  public static func interpolate(_ input: Tensor, scaleFactor: (Double, Double), mode: InterpolationMode) -> Tensor {
    precondition(input.rank == 4, "interpolate: input must be [N, C, H, W], got \(input.shape)")
    precondition(
      scaleFactor.0 > 0 && scaleFactor.1 > 0, "interpolate: scale factors must be positive, got \(scaleFactor)")
    let size = (
      Int((Double(input.shape[2]) * scaleFactor.0).rounded(.down)),
      Int((Double(input.shape[3]) * scaleFactor.1).rounded(.down))
    )
    precondition(
      size.0 > 0 && size.1 > 0, "interpolate: scale \(scaleFactor) gives an empty output for \(input.shape)")
    return resample(input, size: size, mode: mode, scales: (Float(1 / scaleFactor.0), Float(1 / scaleFactor.1)))
  }

  /// For each output index along one axis: two source indices and their weights.
  struct AxisSampling {
    var low: [Int], high: [Int], highWeight: [Float]
  }

  /// Source positions along one axis. `scale` is the source step per output step (Float32, as in PyTorch's float
  /// kernels, so that nearest picks the same pixel where `index · scale` lands on an integer boundary).
  static func axisSampling(inSize: Int, outSize: Int, scale: Float, mode: InterpolationMode) -> AxisSampling {
    var sampling = AxisSampling(
      low: .init(repeating: 0, count: outSize), high: .init(repeating: 0, count: outSize),
      highWeight: .init(repeating: 0, count: outSize))
    for index in 0..<outSize {
      switch mode {
      case .nearest:
        let source: Int
        if outSize == inSize {
          source = index
        } else if outSize == 2 * inSize {
          source = index / 2
        } else {
          source = Swift.min(Int((Float(index) * scale).rounded(.down)), inSize - 1)
        }
        sampling.low[index] = source
        sampling.high[index] = source
      case .bilinear(let alignCorners):
        let source: Float
        if alignCorners {
          source = outSize > 1 ? Float(index) * (Float(inSize - 1) / Float(outSize - 1)) : 0
        } else if outSize == inSize {
          source = Float(index)
        } else {
          source = Swift.max((Float(index) + 0.5) * scale - 0.5, 0)
        }
        let low = Swift.min(Int(source.rounded(.down)), inSize - 1)
        sampling.low[index] = low
        sampling.high[index] = Swift.min(low + 1, inSize - 1)
        sampling.highWeight[index] = Swift.min(Swift.max(source - Float(low), 0), 1)
      }
    }
    return sampling
  }

  private static func resample(_ input: Tensor, size: (Int, Int), mode: InterpolationMode, scales: (Float, Float))
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
