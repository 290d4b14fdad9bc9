import Foundation

/// A learning-rate schedule: the factor applied to the base learning rate at a (0-based) iteration.
public protocol LearningRateSchedule: Sendable {
  func factor(at iteration: Int) -> Float
}

extension LearningRateSchedule {
  public func learningRate(base: Float, at iteration: Int) -> Float { base * factor(at: iteration) }
}

/// Constant factor 1.
public struct ConstantSchedule: LearningRateSchedule {
  public init() {}
  public func factor(at iteration: Int) -> Float { 1 }
}

/// Linear ramp from `startFactor` to 1 over the first `iterations` iterations (MMDetection's `LinearLR`).
public struct LinearWarmup: LearningRateSchedule {
  public let iterations: Int
  public let startFactor: Float

  public init(iterations: Int, startFactor: Float = 0.001) {
    self.iterations = iterations
    self.startFactor = startFactor
  }

  public func factor(at iteration: Int) -> Float {
    guard iterations > 0, iteration < iterations else { return 1 }
    return startFactor + (1 - startFactor) * Float(iteration) / Float(iterations)
  }
}

/// Multiplies by `gamma` at each milestone iteration (`MultiStepLR`).
public struct MultiStepSchedule: LearningRateSchedule {
  public let milestones: [Int]
  public let gamma: Float

  public init(milestones: [Int], gamma: Float = 0.1) {
    self.milestones = milestones.sorted()
    self.gamma = gamma
  }

  public func factor(at iteration: Int) -> Float {
    Float(pow(Double(gamma), Double(milestones.filter { iteration >= $0 }.count)))
  }
}

/// Cosine annealing from 1 to `minFactor` over `iterations` (`CosineAnnealingLR` without restarts).
public struct CosineSchedule: LearningRateSchedule {
  public let iterations: Int
  public let minFactor: Float

  public init(iterations: Int, minFactor: Float = 0) {
    self.iterations = iterations
    self.minFactor = minFactor
  }

  public func factor(at iteration: Int) -> Float {
    let progress = Double(min(max(iteration, 0), iterations)) / Double(max(iterations, 1))
    return minFactor + (1 - minFactor) * Float((1 + cos(Double.pi * progress)) / 2)
  }
}

/// The product of several schedules, e.g. a warm-up composed with a multistep decay.
public struct ComposedSchedule: LearningRateSchedule {
  public let parts: [any LearningRateSchedule]

  public init(_ parts: [any LearningRateSchedule]) { self.parts = parts }

  public func factor(at iteration: Int) -> Float { parts.reduce(1) { $0 * $1.factor(at: iteration) } }
}
