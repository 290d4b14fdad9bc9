import Foundation
import TensorCore

/// Marks normalisation layers, whose affine parameters `noDecayOnNormsAndBiases` exempts from weight decay.
public protocol NormalizationLayer: Module {}

/// A rule giving parameters whose keys match `patterns` their own learning-rate and weight-decay multipliers.
public struct ParameterGroupRule: Sendable {
  public var patterns: [String]
  public var lrMult: Float
  public var decayMult: Float

  public init(match patterns: [String], lrMult: Float = 1, decayMult: Float = 1) {
    self.patterns = patterns
    self.lrMult = lrMult
    self.decayMult = decayMult
  }
}

/// One parameter as an optimizer sees it: its key and multipliers resolved from the group rules.
public struct OptimizedParameter {
  public let key: String
  public let parameter: Parameter
  public let lrMult: Float
  public let decayMult: Float
}

/// Resolves group rules over a module's parameters: the first matching rule wins; each rule must match something.
public func optimizedParameters(
  of module: Module, groups: [ParameterGroupRule] = [], noDecayOnNormsAndBiases: Bool = false
) throws -> [OptimizedParameter] {
  let normKeys = Set(
    module.namedModules().filter { $0.module is NormalizationLayer }.flatMap { entry in
      entry.module.namedParameters(prefix: entry.key).map(\.key)
    })
  var ruleFor: [String: ParameterGroupRule] = [:]
  for rule in groups {
    for (key, _) in try module.parameters(matching: rule.patterns) where ruleFor[key] == nil { ruleFor[key] = rule }
  }
  return module.namedParameters().map { key, parameter in
    let rule = ruleFor[key]
    var decayMult = rule?.decayMult ?? 1
    if noDecayOnNormsAndBiases && (key.hasSuffix(".bias") || key == "bias" || normKeys.contains(key)) { decayMult = 0 }
    return OptimizedParameter(key: key, parameter: parameter, lrMult: rule?.lrMult ?? 1, decayMult: decayMult)
  }
}

/// Updates parameters from their accumulated gradients. Frozen parameters are skipped and hold no state.
public protocol Optimizer: AnyObject {
  /// The base learning rate; schedules set it each iteration.
  var learningRate: Float { get set }
  var parameters: [OptimizedParameter] { get }
  func step()
}

extension Optimizer {
  /// Clears the gradients of every parameter.
  public func zeroGrad() { for entry in parameters { entry.parameter.zeroGrad() } }
}

/// An optimizer whose state can be saved and restored, so training resumes bit for bit.
public protocol ResumableOptimizer: Optimizer {
  /// The per-parameter state by `<parameter key>.<name>`, named as in PyTorch's optimizer state dict.
  func state() -> [String: Tensor]
  /// Restores `state()`; every key must name an optimised parameter and fit its shape.
  func load(state: [String: Tensor]) throws
  /// The type and hyper-parameters as a JSON object for checkpoint metadata, with the base learning rate and a note
  /// on where the state tensors are stored.
  func metadataJSON(baseLearningRate: Float, stateLocation: String) -> String
}

/// Stochastic gradient descent with momentum, dampening, Nesterov and (coupled) weight decay, as `torch.optim.SGD`.
public final class SGD: ResumableOptimizer {
  public var learningRate: Float
  public let momentum: Float
  public let dampening: Float
  public let nesterov: Bool
  public let weightDecay: Float
  public let parameters: [OptimizedParameter]
  private var momentumBuffers: [ObjectIdentifier: Tensor] = [:]

  public init(
    _ parameters: [OptimizedParameter], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
    nesterov: Bool = false, weightDecay: Float = 0
  ) {
    precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov needs momentum > 0 and no dampening")
    self.parameters = parameters
    self.learningRate = learningRate
    self.momentum = momentum
    self.dampening = dampening
    self.nesterov = nesterov
    self.weightDecay = weightDecay
  }

  public func step() {
    for entry in parameters where !entry.parameter.isFrozen {
      guard let grad = entry.parameter.grad else { continue }
      let id = ObjectIdentifier(entry.parameter)
      let lr = learningRate * entry.lrMult, decay = weightDecay * entry.decayMult
      let isFirst = momentumBuffers[id] == nil
      // Taken out of the table so that the buffer is updated in place rather than copied on write.
      var buffer = momentumBuffers.removeValue(forKey: id) ?? Tensor.zeros(entry.parameter.shape)
      let (momentum, dampening, nesterov) = (self.momentum, self.dampening, self.nesterov)
      let gradient = grad.data
      buffer.withUnsafeMutableBufferPointer { velocity in
        entry.parameter.update { weights in
          Parallel.forEachChunk(weights.count, costPerItem: 8) { range in
            for index in range {
              var g = gradient[index] + decay * weights[index]
              if momentum != 0 {
                velocity[index] = isFirst ? g : momentum * velocity[index] + (1 - dampening) * g
                g = nesterov ? g + momentum * velocity[index] : velocity[index]
              }
              weights[index] -= lr * g
            }
          }
        }
      }
      if momentum != 0 { momentumBuffers[id] = buffer }
    }
  }

  /// The momentum buffers by parameter key (`<key>.momentum_buffer`), as in PyTorch's state dict.
  public func state() -> [String: Tensor] {
    var result: [String: Tensor] = [:]
    for entry in parameters {
      guard let buffer = momentumBuffers[ObjectIdentifier(entry.parameter)] else { continue }
      result[entry.key + ".momentum_buffer"] = buffer
    }
    return result
  }

  public func load(state: [String: Tensor]) throws {
    let byKey = Dictionary(uniqueKeysWithValues: parameters.map { ($0.key, $0.parameter) })
    var restored: [ObjectIdentifier: Tensor] = [:]
    for (key, buffer) in state {
      let name = String(key.dropLast(".momentum_buffer".count))
      guard key.hasSuffix(".momentum_buffer"), let parameter = byKey[name], buffer.shape == parameter.shape else {
        throw OptimizerStateError(key: key)
      }
      restored[ObjectIdentifier(parameter)] = buffer
    }
    momentumBuffers = restored
  }

  public func metadataJSON(baseLearningRate: Float, stateLocation: String) -> String {
    "{\"type\": \"SGD\", \"lr\": \(baseLearningRate), \"momentum\": \(momentum), \"dampening\": \(dampening), "
      + "\"nesterov\": \(nesterov), \"weight_decay\": \(weightDecay), \"momentum_buffers\": \"\(stateLocation)\"}"
  }
}

/// Optimizer state that does not fit the parameters being optimised.
public struct OptimizerStateError: Error, CustomStringConvertible {
  public let key: String
  public var description: String { "optimizer state for '\(key)' does not match an optimised parameter of that shape" }
}

/// Adam with decoupled weight decay and bias correction, as `torch.optim.AdamW`.
public final class AdamW: ResumableOptimizer {
  public var learningRate: Float
  public let beta1: Float
  public let beta2: Float
  public let epsilon: Float
  public let weightDecay: Float
  public let parameters: [OptimizedParameter]
  private var moments: [ObjectIdentifier: (first: Tensor, second: Tensor, steps: Int)] = [:]

  public init(
    _ parameters: [OptimizedParameter], learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999,
    epsilon: Float = 1e-8, weightDecay: Float = 0.01
  ) {
    self.parameters = parameters
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.weightDecay = weightDecay
  }

  /// The moments by parameter key (`<key>.exp_avg`, `<key>.exp_avg_sq`, `<key>.step`), as in PyTorch's state dict.
  public func state() -> [String: Tensor] {
    var result: [String: Tensor] = [:]
    for entry in parameters {
      guard let moment = moments[ObjectIdentifier(entry.parameter)] else { continue }
      result[entry.key + ".exp_avg"] = moment.first
      result[entry.key + ".exp_avg_sq"] = moment.second
      result[entry.key + ".step"] = Tensor(shape: [1], values: [Float(moment.steps)])
    }
    return result
  }

  /// Restores `state()`; every key must name an optimised parameter and fit its shape.
  public func load(state: [String: Tensor]) throws {
    let byKey = Dictionary(uniqueKeysWithValues: parameters.map { ($0.key, $0.parameter) })
    var restored: [ObjectIdentifier: (first: Tensor, second: Tensor, steps: Int)] = [:]
    for key in state.keys where key.hasSuffix(".step") {
      let name = String(key.dropLast(".step".count))
      guard let parameter = byKey[name], let first = state[name + ".exp_avg"], let second = state[name + ".exp_avg_sq"],
        first.shape == parameter.shape, second.shape == parameter.shape
      else { throw OptimizerStateError(key: name) }
      restored[ObjectIdentifier(parameter)] = (first, second, Int(state[key]!.scalars[0]))
    }
    guard restored.count * 3 == state.count else { throw OptimizerStateError(key: "(entries without a step)") }
    moments = restored
  }

  public func metadataJSON(baseLearningRate: Float, stateLocation: String) -> String {
    "{\"type\": \"AdamW\", \"lr\": \(baseLearningRate), \"weight_decay\": \(weightDecay), "
      + "\"betas\": [\(beta1), \(beta2)], \"eps\": \(epsilon), \"moments\": \"\(stateLocation)\"}"
  }

  /// One step's update rule for one parameter, sixteen elements at a time (the same operations, in the same order,
  /// as one at a time, so the same bits).
  private struct Update {
    let decayFactor: Float, beta1: Float, beta2: Float, correction2Root: Float, epsilon: Float, stepSize: Float

    func apply(
      _ range: Range<Int>, weights: UnsafeMutablePointer<Float>, first: UnsafeMutablePointer<Float>,
      second: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>
    ) {
      typealias Lanes = SIMD16<Float>
      var index = range.lowerBound
      while index + Lanes.scalarCount <= range.upperBound {
        func load(_ pointer: UnsafePointer<Float>) -> Lanes {
          UnsafeRawPointer(pointer + index).loadUnaligned(as: Lanes.self)
        }
        func store(_ lanes: Lanes, _ pointer: UnsafeMutablePointer<Float>) {
          UnsafeMutableRawPointer(pointer + index).storeBytes(of: lanes, as: Lanes.self)
        }
        let g = load(gradient)
        let m = beta1 * load(first) + (1 - beta1) * g
        let v = beta2 * load(second) + (1 - beta2) * g * g
        let w = load(weights) * decayFactor
        store(m, first)
        store(v, second)
        store(w - stepSize * m / (v.squareRoot() / correction2Root + epsilon), weights)
        index += Lanes.scalarCount
      }
      for index in index..<range.upperBound {
        let g = gradient[index]
        first[index] = beta1 * first[index] + (1 - beta1) * g
        second[index] = beta2 * second[index] + (1 - beta2) * g * g
        weights[index] =
          weights[index] * decayFactor
          - stepSize * first[index] / (second[index].squareRoot() / correction2Root + epsilon)
      }
    }
  }

  public func step() {
    for entry in parameters where !entry.parameter.isFrozen {
      guard let grad = entry.parameter.grad else { continue }
      let id = ObjectIdentifier(entry.parameter)
      // Taken out of the table so that the moments are updated in place rather than copied on write.
      var state =
        moments.removeValue(forKey: id) ?? (Tensor.zeros(entry.parameter.shape), Tensor.zeros(entry.parameter.shape), 0)
      state.steps += 1
      let lr = learningRate * entry.lrMult, decay = weightDecay * entry.decayMult
      let (beta1, beta2, epsilon) = (self.beta1, self.beta2, self.epsilon)
      let correction1 = 1 - Float(pow(Double(beta1), Double(state.steps)))
      let correction2Root = Float(sqrt(1 - pow(Double(beta2), Double(state.steps))))
      let stepSize = lr / correction1
      let gradient = grad.data
      state.first.withUnsafeMutableBufferPointer { first in
        state.second.withUnsafeMutableBufferPointer { second in
          entry.parameter.update { weights in
            let update = Update(
              decayFactor: 1 - lr * decay, beta1: beta1, beta2: beta2, correction2Root: correction2Root,
              epsilon: epsilon, stepSize: stepSize)
            // Element by element, so neither the chunks nor the cores change a bit of the result.
            Parallel.forEachChunk(weights.count, costPerItem: 4) { range in
              update.apply(
                range, weights: weights.baseAddress!, first: first.baseAddress!, second: second.baseAddress!,
                gradient: gradient)
            }
          }
        }
      }
      moments[id] = state
    }
  }
}

/// Scales gradients so their global L2 norm is at most `maxNorm` (as `torch.nn.utils.clip_grad_norm_`).
/// Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
  let grads = parameters.compactMap { parameter in parameter.isFrozen ? nil : parameter.grad.map { ($0, parameter) } }
  var total: Double = 0
  for (grad, _) in grads {
    let values = grad.data
    for index in 0..<grad.count { total += Double(values[index]) * Double(values[index]) }
  }
  let norm = Float(total.squareRoot())
  let coefficient = maxNorm / (norm + 1e-6)
  if coefficient < 1 {
    for (grad, parameter) in grads { parameter.setGrad(withNoGrad { grad * coefficient }) }
  }
  return norm
}
