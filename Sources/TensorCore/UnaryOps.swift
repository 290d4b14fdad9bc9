import Foundation

/// Elementwise math and activations. Each op is a forward function and the derivative written in terms of the input
/// `x` and the output `y`, side by side.
extension Tensor {
  /// Applies `forward` elementwise and records `grad · derivative(x, y)` as the backward rule.
  @inline(__always)
  func unary(_ op: String, _ forward: (Float) -> Float, derivative: @escaping (Float, Float) -> Float) -> Tensor {
    let output = mapValues(forward)
    let input = self
    return Tensor.record(op, output: output, inputs: [input]) { grad in
      let result = Tensor(uninitializedShape: input.shape)
      let (x, y, g, out) = (input.data, output.data, grad.data, result.mutableData)
      Parallel.forEachChunk(input.count) { range in
        for index in range { out[index] = g[index] * derivative(x[index], y[index]) }
      }
      return [result]
    }
  }

  // MARK: Math

  public func exp() -> Tensor { unary("exp", { Foundation.exp($0) }, derivative: { _, y in y }) }
  public func log() -> Tensor { unary("log", { Foundation.log($0) }, derivative: { x, _ in 1 / x }) }
  public func sqrt() -> Tensor { unary("sqrt", { $0.squareRoot() }, derivative: { _, y in 0.5 / y }) }
  public func rsqrt() -> Tensor { unary("rsqrt", { 1 / $0.squareRoot() }, derivative: { x, y in -0.5 * y / x }) }
  public func square() -> Tensor { unary("square", { $0 * $0 }, derivative: { x, _ in 2 * x }) }
  public func sin() -> Tensor { unary("sin", { Foundation.sin($0) }, derivative: { x, _ in Foundation.cos(x) }) }
  public func cos() -> Tensor { unary("cos", { Foundation.cos($0) }, derivative: { x, _ in -Foundation.sin(x) }) }

  /// |x|, with gradient sign(x) (0 at 0, as PyTorch).
  public func abs() -> Tensor {
    unary("abs", { Swift.abs($0) }, derivative: { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) })
  }

  /// x ** exponent. The gradient exponent·x^(exponent−1) is 0 where the exponent is 0.
  public func pow(_ exponent: Float) -> Tensor {
    if exponent == 2 { return square() }
    return unary(
      "pow_scalar", { Foundation.pow($0, exponent) },
      derivative: { x, _ in exponent == 0 ? 0 : exponent * Foundation.pow(x, exponent - 1) })
  }

  /// Elementwise x ** y with broadcasting; d/dy = x^y·log x (taken as 0 where x is 0 and y ≥ 0, like PyTorch's
  /// masked gradient).
  public func pow(_ exponent: Tensor) -> Tensor {
    let base = self
    let output = Tensor.broadcastBinary(base, exponent, op: "pow") { Foundation.pow($0, $1) }
    return Tensor.record("pow", output: output, inputs: [base, exponent]) { grad in
      let baseGrad =
        base.requiresGrad
        ? (grad
          * Tensor.broadcastBinary(base, exponent, op: "pow_backward") { x, y in
            y == 0 ? 0 : y * Foundation.pow(x, y - 1)
          }).sum(toShape: base.shape) : nil
      // 0^y·log 0 is masked to 0 only for y ≥ 0; for y < 0 it stays inf·(−inf) = −inf, as in PyTorch.
      let exponentGrad =
        exponent.requiresGrad
        ? (grad
          * Tensor.broadcastBinary(base, exponent, op: "pow_backward") { x, y in
            x == 0 && y >= 0 ? 0 : Foundation.pow(x, y) * Foundation.log(x)
          }).sum(toShape: exponent.shape) : nil
      return [baseGrad, exponentGrad]
    }
  }

  /// Clamps to [min, max] (either bound optional). The gradient passes where min ≤ x ≤ max, as in PyTorch.
  public func clamp(min lower: Float? = nil, max upper: Float? = nil) -> Tensor {
    let low = lower ?? -.infinity, high = upper ?? .infinity
    return unary(
      "clamp", { Swift.min(Swift.max($0, low), high) }, derivative: { x, _ in x >= low && x <= high ? 1 : 0 })
  }

  // MARK: Activations

  public func relu() -> Tensor {
    // Written out rather than through `unary` so that both loops vectorise (no closure call per element).
    let output = Tensor(uninitializedShape: shape)
    let (input, out) = (data, output.mutableData)
    Parallel.forEachChunk(count) { range in
      for index in range { out[index] = Swift.max(input[index], 0) }
    }
    return Tensor.record("relu", output: output, inputs: [self]) { grad in
      let result = Tensor(uninitializedShape: output.shape)
      let (y, g, target) = (output.data, grad.data, result.mutableData)
      Parallel.forEachChunk(output.count) { range in
        for index in range {
          let value = g[index]
          target[index] = y[index] > 0 ? value : 0
        }
      }
      return [result]
    }
  }

  public func relu6() -> Tensor {
    let output = Tensor(uninitializedShape: shape)
    let (input, out) = (data, output.mutableData)
    Parallel.forEachChunk(count) { range in
      for index in range { out[index] = Swift.min(Swift.max(input[index], 0), 6) }
    }
    let source = self
    return Tensor.record("relu6", output: output, inputs: [self]) { grad in
      let result = Tensor(uninitializedShape: output.shape)
      let (x, g, target) = (source.data, grad.data, result.mutableData)
      Parallel.forEachChunk(output.count) { range in
        for index in range {
          let (value, input) = (g[index], x[index])
          target[index] = (input > 0) == (input < 6) ? value : 0
        }
      }
      return [result]
    }
  }

  public func leakyRelu(negativeSlope: Float = 0.01) -> Tensor {
    unary("leaky_relu", { $0 > 0 ? $0 : negativeSlope * $0 }, derivative: { x, _ in x > 0 ? 1 : negativeSlope })
  }

  public func sigmoid() -> Tensor {
    unary("sigmoid", { 1 / (1 + Foundation.exp(-$0)) }, derivative: { _, y in y * (1 - y) })
  }

  public func tanh() -> Tensor { unary("tanh", { Foundation.tanh($0) }, derivative: { _, y in 1 - y * y }) }

  /// x·sigmoid(x).
  public func silu() -> Tensor {
    unary(
      "silu", { $0 / (1 + Foundation.exp(-$0)) },
      derivative: { x, _ in
        let s = 1 / (1 + Foundation.exp(-x))
        return s * (1 + x * (1 - s))
      })
  }

  /// PyTorch's hard sigmoid: relu6(x + 3) / 6, gradient 1/6 strictly inside (−3, 3).
  public func hardsigmoid() -> Tensor {
    unary(
      "hardsigmoid", { Swift.min(Swift.max($0 + 3, 0), 6) / 6 }, derivative: { x, _ in x > -3 && x < 3 ? 1 / 6 : 0 })
  }

  /// GELU. `approximate: false` is the exact erf form BERT uses; `true` is the tanh approximation.
  public func gelu(approximate: Bool = false) -> Tensor {
    if approximate {
      let c = Float(0.797_884_560_802_865_4)  // √(2/π)
      return unary(
        "gelu_tanh", { x in 0.5 * x * (1 + Foundation.tanh(c * (x + 0.044715 * x * x * x))) },
        derivative: { x, _ in
          let inner = c * (x + 0.044715 * x * x * x)
          let t = Foundation.tanh(inner)
          return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
        })
    }
    // Neither loop calls a library function, so both vectorise (erf as a rational approximation, e^x as a polynomial).
    let output = Tensor(uninitializedShape: shape)
    let (input, out) = (data, output.mutableData)
    Parallel.forEachChunk(count) { range in
      for index in range {
        let x = input[index]
        out[index] = 0.5 * x * (1 + Tensor.fastErf(x * Float(0.707_106_781_186_547_5)))
      }
    }
    let source = self
    return Tensor.record("gelu", output: output, inputs: [self]) { grad in
      let result = Tensor(uninitializedShape: source.shape)
      let (x, g, target) = (source.data, grad.data, result.mutableData)
      Parallel.forEachChunk(source.count) { range in
        for index in range {
          let value = x[index]
          let cdf = 0.5 * (1 + Tensor.fastErf(value * Float(0.707_106_781_186_547_5)))
          let pdf = Tensor.fastExp(-0.5 * value * value) * Float(0.398_942_280_401_432_7)
          target[index] = g[index] * (cdf + value * pdf)
        }
      }
      return [result]
    }
  }

  /// erf(x) in float as a rational function of x² on [−4, 4] (±1 beyond), within 5e-7 of the exact value; plain
  /// arithmetic, so loops over it vectorise.
  @inline(__always)
  static func fastErf(_ value: Float) -> Float {
    let x = Swift.min(Swift.max(value, -4), 4)
    let square = x * x
    var p: Float = -2.726_142_258_013_06e-10
    p = p * square + 2.770_681_424_959_02e-08
    p = p * square - 2.101_024_020_825_08e-06
    p = p * square - 5.692_506_394_623_46e-05
    p = p * square - 7.349_906_303_268_55e-04
    p = p * square - 2.954_599_808_540_25e-03
    p = p * square - 1.609_603_332_624_15e-02
    var q: Float = -1.456_607_184_649_96e-05
    q = q * square - 2.133_740_552_789_05e-04
    q = q * square - 1.682_826_974_382_03e-03
    q = q * square - 7.373_329_167_204_68e-03
    q = q * square - 1.426_473_905_141_89e-02
    return x * p / q
  }

  /// PyTorch's softplus: log(1 + e^(βx))/β, and x itself where βx > threshold.
  public func softplus(beta: Float = 1, threshold: Float = 20) -> Tensor {
    unary(
      "softplus", { x in beta * x > threshold ? x : log1p(Foundation.exp(beta * x)) / beta },
      derivative: { x, _ in
        beta * x > threshold ? 1 : 1 / (1 + Foundation.exp(-beta * x))
      })
  }
}
