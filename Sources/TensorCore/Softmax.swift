import Foundation

/// Softmax and log-softmax along any axis: one fused, numerically stable pass per row, parallel over rows.
extension Tensor {
  public func softmax(axis: Int = -1) -> Tensor { softmaxFamily(axis: axis, logarithmic: false) }

  public func logSoftmax(axis: Int = -1) -> Tensor { softmaxFamily(axis: axis, logarithmic: true) }

  private func softmaxFamily(axis rawAxis: Int, logarithmic: Bool) -> Tensor {
    let axis = self.axis(rawAxis)
    let (outer, size, inner) = layout(around: axis)
    let output = Tensor(uninitializedShape: shape)
    let (source, out) = (data, output.mutableData)
    Parallel.forEach(outer * inner, costPerItem: size * 4) { line in
      let base = (line / inner) * size * inner + line % inner
      let (input, result) = (source + base, out + base)
      var maximum = -Float.infinity
      for step in 0..<size { maximum = Swift.max(maximum, input[step * inner]) }
      if maximum == -.infinity { maximum = 0 }
      var total: Float = 0
      if inner == 1 {
        Tensor.exponentiate(input, minus: maximum, into: result, count: size)
        total = Tensor.laneSum(result, count: size)
      } else {
        for step in 0..<size {
          let shifted = Tensor.fastExp(input[step * inner] - maximum)
          result[step * inner] = shifted
          total += shifted
        }
      }
      if logarithmic {
        let logTotal = Foundation.log(total) + maximum
        for step in 0..<size { result[step * inner] = input[step * inner] - logTotal }
      } else {
        let scale = 1 / total
        for step in 0..<size { result[step * inner] *= scale }
      }
    }
    return Tensor.record(logarithmic ? "log_softmax" : "softmax", output: output, inputs: [self]) { grad in
      let inputGrad = Tensor(uninitializedShape: output.shape)
      let (y, g, target) = (output.data, grad.data, inputGrad.mutableData)
      Parallel.forEach(outer * inner, costPerItem: size * 4) { line in
        let base = (line / inner) * size * inner + line % inner
        var total: Float = 0
        if logarithmic {
          for step in 0..<size { total += g[base + step * inner] }
          for step in 0..<size {
            let index = base + step * inner
            target[index] = g[index] - Foundation.exp(y[index]) * total
          }
        } else {
          for step in 0..<size { total += g[base + step * inner] * y[base + step * inner] }
          for step in 0..<size {
            let index = base + step * inner
            target[index] = y[index] * (g[index] - total)
          }
        }
      }
      return [inputGrad]
    }
  }
}

extension Tensor {
  /// e^x in float without a library call, so loops over it vectorise: x = n·ln 2 + r with |r| ≤ ln 2 / 2, a degree-6
  /// polynomial for e^r (Cephes' expf coefficients, within 2 ulp of the exact value) and 2^n from the exponent bits.
  /// NaN stays NaN; 0 below −87.3 (where floats go subnormal) and for −∞; e^88 for x in (88, 88.7], +∞ above
  /// (softmax only feeds it x ≤ 0).
  @inline(__always)
  static func fastExp(_ value: Float) -> Float {
    let (roundingSum, y) = exponentialParts(Swift.min(Swift.max(value, -87.3), 88))
    // 2ⁿ from the rounding sum's bits, 0x4B40_0000 + n: a conversion of n to an integer would trap on NaN.
    let scaled = y * Float(bitPattern: (roundingSum.bitPattern &- (0x4B40_0000 - 127)) &<< 23)
    return value < -87.3 ? 0 : (value > 88.7 ? .infinity : (value.isNaN ? value : scaled))
  }

  /// `fastExp` on sixteen lanes, with the same operations in the same order, so each lane gets the scalar's bits.
  @inline(__always)
  static func fastExp(_ value: SIMD16<Float>) -> SIMD16<Float> {
    let (roundingSum, y) = exponentialParts(
      pointwiseMin(pointwiseMax(value, SIMD16(repeating: -87.3)), SIMD16(repeating: 88)))
    let exponentBits = (unsafeBitCast(roundingSum, to: SIMD16<UInt32>.self) &- (0x4B40_0000 - 127)) &<< 23
    var result = y * unsafeBitCast(exponentBits, to: SIMD16<Float>.self)
    result.replace(with: value, where: value .!= value)
    result.replace(with: .infinity, where: value .> 88.7)
    result.replace(with: 0, where: value .< -87.3)
    return result
  }

  /// For x in [−87.3, 88]: x·log₂e + 1.5·2²³, whose bits hold n = round(x·log₂e), and e^r for r = x − n·ln 2, on one
  /// float or on every lane alike. n is rounded to nearest even by adding and subtracting 1.5·2²³ (exact while
  /// |x·log₂e| < 2²²): without SSE4.1's rounding instruction, `rounded(.toNearestOrEven)` is a libm call per element,
  /// which stops vectorisation.
  @inline(__always)
  private static func exponentialParts<Lanes: ExponentialLanes>(_ x: Lanes) -> (roundingSum: Lanes, y: Lanes) {
    let roundingSum = x * Lanes(1.442_695_04) + Lanes(12_582_912)
    let n = roundingSum - Lanes(12_582_912)
    let r = x - n * Lanes(0.693_359_375) + n * Lanes(2.121_944_4e-4)
    var p = Lanes(1.987_569_15e-4)
    p = p * r + Lanes(1.398_199_95e-3)
    p = p * r + Lanes(8.333_451_9e-3)
    p = p * r + Lanes(4.166_579_59e-2)
    p = p * r + Lanes(1.666_666_55e-1)
    p = p * r + Lanes(5.000_000_12e-1)
    return (roundingSum, p * r * r + r + Lanes(1))
  }

  /// `destination[i] = fastExp(source[i] − shift)` for `count` values, sixteen at a time (in place when the two are
  /// the same).
  @inline(__always)
  static func exponentiate(
    _ source: UnsafePointer<Float>, minus shift: Float, into destination: UnsafeMutablePointer<Float>, count: Int
  ) {
    var index = 0
    let shifts = SIMD16<Float>(repeating: shift)
    while index + 16 <= count {
      let values = UnsafeRawPointer(source + index).loadUnaligned(as: SIMD16<Float>.self)
      UnsafeMutableRawPointer(destination + index).storeBytes(of: fastExp(values - shifts), as: SIMD16<Float>.self)
      index += 16
    }
    while index < count {
      destination[index] = fastExp(source[index] - shift)
      index += 1
    }
  }

  /// Σ values over eight lanes (a fixed order).
  @inline(__always)
  static func laneSum(_ values: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD8<Float>()
    var index = 0
    while index + 8 <= count {
      lanes += UnsafeRawPointer(values + index).loadUnaligned(as: SIMD8<Float>.self)
      index += 8
    }
    var total = lanes.sum()
    while index < count {
      total += values[index]
      index += 1
    }
    return total
  }

  @inline(__always)
  static func laneSum(_ values: UnsafeMutablePointer<Float>, count: Int) -> Float {
    laneSum(UnsafePointer(values), count: count)
  }
}

/// One float or a vector of them, lane by lane: what `Tensor.fastExp`'s shared steps need.
protocol ExponentialLanes {
  init(_ constant: Float)
  static func + (lhs: Self, rhs: Self) -> Self
  static func - (lhs: Self, rhs: Self) -> Self
  static func * (lhs: Self, rhs: Self) -> Self
}

extension Float: ExponentialLanes {}

extension SIMD16: ExponentialLanes where Scalar == Float {
  init(_ constant: Float) { self.init(repeating: constant) }
}
