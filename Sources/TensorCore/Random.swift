import Foundation

/// A seeded, reproducible random number generator (xoshiro256**, seeded through SplitMix64).
///
/// The same seed gives the same sequence on every run and machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var state: (UInt64, UInt64, UInt64, UInt64)

  public init(seed: UInt64) {
    var mixer = seed
    func splitMix() -> UInt64 {
      mixer &+= 0x9E37_79B9_7F4A_7C15
      var value = mixer
      value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
      value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
      return value ^ (value >> 31)
    }
    state = (splitMix(), splitMix(), splitMix(), splitMix())
  }

  public mutating func next() -> UInt64 {
    let result = rotate(state.1 &* 5, 7) &* 9
    let shifted = state.1 << 17
    state.2 ^= state.0
    state.3 ^= state.1
    state.1 ^= state.2
    state.0 ^= state.3
    state.2 ^= shifted
    state.3 = rotate(state.3, 45)
    return result
  }

  private func rotate(_ value: UInt64, _ amount: UInt64) -> UInt64 { (value << amount) | (value >> (64 - amount)) }

  /// Uniform in [0, 1) with 24 bits of precision.
  public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

  /// Standard normal via Box–Muller.
  public mutating func nextNormal() -> Float {
    let first = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    let second = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    let radius = (-2 * Foundation.log(1 - first)).squareRoot()
    return Float(radius * cos(2 * Double.pi * second))
  }
}

extension Tensor {
  /// Uniform values in [low, high).
  public static func uniform(
    _ shape: [Int], low: Float = 0, high: Float = 1, generator: inout SeededGenerator
  ) -> Tensor {
    let result = Tensor(uninitializedShape: shape)
    guard !ShapeOnlyMode.isEnabled else { return result }
    let out = result.mutableData
    for index in 0..<result.count { out[index] = low + (high - low) * generator.nextUnitFloat() }
    return result
  }

  /// Normal values with the given mean and standard deviation.
  public static func normal(
    _ shape: [Int], mean: Float = 0, std: Float = 1, generator: inout SeededGenerator
  ) -> Tensor {
    let result = Tensor(uninitializedShape: shape)
    guard !ShapeOnlyMode.isEnabled else { return result }
    let out = result.mutableData
    for index in 0..<result.count { out[index] = mean + std * generator.nextNormal() }
    return result
  }

  public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, seed: UInt64) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return uniform(shape, low: low, high: high, generator: &generator)
  }

  public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, seed: UInt64) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return normal(shape, mean: mean, std: std, generator: &generator)
  }
}
