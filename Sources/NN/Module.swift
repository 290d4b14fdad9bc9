import Foundation
import TensorCore

/// Errors from module operations on user-supplied keys, patterns and state; each names the keys involved.
public enum ModuleError: Error, CustomStringConvertible, Equatable {
  case patternMatchesNothing(pattern: String, suggestions: [String])
  case patternMatchesOnlyFixed(pattern: String)
  case loadMismatch(LoadReport)

  public var description: String {
    switch self {
    case .patternMatchesNothing(let pattern, let suggestions):
      let hint = suggestions.isEmpty ? "" : " (close matches: \(suggestions.joined(separator: ", ")))"
      return "pattern '\(pattern)' matches no parameter key\(hint)"
    case .patternMatchesOnlyFixed(let pattern):
      return "pattern '\(pattern)' matches only fixed parameters (frozen batch norm), which never train"
    case .loadMismatch(let report):
      return report.description
    }
  }
}

/// What a strict load found wrong: every problem at once, with paths.
public struct LoadReport: Equatable, CustomStringConvertible {
  public var unusedKeys: [String] = []
  public var missingKeys: [String] = []
  public var shapeMismatches: [(key: String, expected: [Int], found: [Int])] = []

  public init(
    unusedKeys: [String] = [], missingKeys: [String] = [],
    shapeMismatches: [(key: String, expected: [Int], found: [Int])] = []
  ) {
    self.unusedKeys = unusedKeys
    self.missingKeys = missingKeys
    self.shapeMismatches = shapeMismatches
  }

  public var isEmpty: Bool { unusedKeys.isEmpty && missingKeys.isEmpty && shapeMismatches.isEmpty }

  public static func == (lhs: LoadReport, rhs: LoadReport) -> Bool {
    lhs.unusedKeys == rhs.unusedKeys && lhs.missingKeys == rhs.missingKeys
      && lhs.shapeMismatches.map { "\($0)" } == rhs.shapeMismatches.map { "\($0)" }
  }

  public var description: String {
    var lines = ["state does not match the model:"]
    if !missingKeys.isEmpty {
      lines.append("  missing keys (\(missingKeys.count)): \(missingKeys.joined(separator: ", "))")
    }
    if !unusedKeys.isEmpty {
      lines.append("  unused keys (\(unusedKeys.count)): \(unusedKeys.joined(separator: ", "))")
    }
    for mismatch in shapeMismatches {
      lines.append("  shape mismatch at \(mismatch.key): model has \(mismatch.expected), state has \(mismatch.found)")
    }
    return lines.joined(separator: "\n")
  }
}

/// Which checks a load enforces. The default enforces all three.
public struct LoadVerification: OptionSet, Sendable {
  public let rawValue: Int
  public init(rawValue: Int) { self.rawValue = rawValue }

  /// Every key in the state must name a parameter or buffer of the model.
  public static let noUnusedKeys = LoadVerification(rawValue: 1)
  /// Every parameter and buffer of the model must be in the state.
  public static let noMissingKeys = LoadVerification(rawValue: 2)
  /// Shapes must agree (a mismatch is never loaded; with this off it is skipped silently).
  public static let shapes = LoadVerification(rawValue: 4)
  public static let all: LoadVerification = [.noUnusedKeys, .noMissingKeys, .shapes]
}

/// A node of the model tree: named parameters, buffers and child modules, with PyTorch-compatible dotted keys.
///
/// Subclasses register what they own in `init`, in the order PyTorch registers it:
/// ```swift
/// final class Affine: Module {
///   let weight: Parameter
///   init(features: Int) {
///     weight = Parameter(.ones([features]))
///     super.init()
///     register("weight", weight)
///   }
/// }
/// ```
open class Module: CustomStringConvertible {
  public private(set) var isTraining = true
  private var parameterEntries: [(name: String, parameter: Parameter)] = []
  private var bufferEntries: [(name: String, buffer: Buffer)] = []
  private var childEntries: [(name: String, module: Module)] = []

  public init() {}

  // MARK: Registration

  public func register(_ name: String, _ parameter: Parameter) {
    precondition(!isRegistered(name), "\(typeName): '\(name)' registered twice")
    parameterEntries.append((name, parameter))
  }

  public func register(_ name: String, _ buffer: Buffer) {
    precondition(!isRegistered(name), "\(typeName): '\(name)' registered twice")
    bufferEntries.append((name, buffer))
  }

  @discardableResult
  public func register<Child: Module>(_ name: String, _ module: Child) -> Child {
    precondition(!isRegistered(name), "\(typeName): '\(name)' registered twice")
    childEntries.append((name, module))
    return module
  }

  private func isRegistered(_ name: String) -> Bool {
    parameterEntries.contains { $0.name == name } || bufferEntries.contains { $0.name == name }
      || childEntries.contains { $0.name == name }
  }

  // MARK: Traversal

  public var children: [(name: String, module: Module)] { childEntries }

  /// Every module in the tree, depth first, with its dotted key ("" for the root).
  public func namedModules(prefix: String = "") -> [(key: String, module: Module)] {
    var result: [(key: String, module: Module)] = [(prefix, self)]
    for (name, child) in childEntries {
      result += child.namedModules(prefix: Module.join(prefix, name))
    }
    return result
  }

  /// Every parameter with its dotted key, in registration order (PyTorch's `named_parameters`).
  public func namedParameters(prefix: String = "") -> [(key: String, parameter: Parameter)] {
    var result = parameterEntries.map { (key: Module.join(prefix, $0.name), parameter: $0.parameter) }
    for (name, child) in childEntries {
      result += child.namedParameters(prefix: Module.join(prefix, name))
    }
    return result
  }

  public func namedBuffers(prefix: String = "") -> [(key: String, buffer: Buffer)] {
    var result = bufferEntries.map { (key: Module.join(prefix, $0.name), buffer: $0.buffer) }
    for (name, child) in childEntries {
      result += child.namedBuffers(prefix: Module.join(prefix, name))
    }
    return result
  }

  public func parameters() -> [Parameter] { namedParameters().map(\.parameter) }

  public func trainableParameters() -> [Parameter] { parameters().filter { !$0.isFrozen } }

  public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }
  /// Whether a forward pass now would record gradients for some parameter (grad mode on and a parameter not frozen).
  public var recordsGradients: Bool { GradMode.isEnabled && parameters().contains(where: \.value.requiresGrad) }
  /// Whether a forward pass over `inputs` now would record a graph: grad mode on, and an input or a parameter that
  /// requires grad. Layers with a fused inference kernel take it only when this is false.
  public func recordsGradients(from inputs: Tensor...) -> Bool {
    (GradMode.isEnabled && inputs.contains(where: \.requiresGrad)) || recordsGradients
  }
  public var trainableParameterCount: Int { trainableParameters().reduce(0) { $0 + $1.count } }

  static func join(_ prefix: String, _ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

  // MARK: Mode

  /// Puts the whole tree in training (true) or evaluation (false) mode.
  open func train(_ training: Bool = true) {
    isTraining = training
    for (_, child) in childEntries { child.train(training) }
  }

  public func eval() { train(false) }

  // MARK: Freezing

  /// Freezes every parameter whose key matches one of the glob patterns; each pattern must match something.
  public func freeze(matching patterns: [String]) throws { try setFrozen(true, matching: patterns) }

  public func unfreeze(matching patterns: [String]) throws { try setFrozen(false, matching: patterns) }

  public func freezeAll() { for parameter in parameters() { parameter.isFrozen = true } }
  public func unfreezeAll() { for parameter in parameters() { parameter.isFrozen = false } }

  /// The parameters matched by each pattern; throws for a pattern that matches nothing, listing close keys.
  public func parameters(matching patterns: [String]) throws -> [(key: String, parameter: Parameter)] {
    let named = namedParameters()
    var selected: [(key: String, parameter: Parameter)] = []
    var seen = Set<String>()
    for pattern in patterns.map(KeyPattern.init) {
      let hits = named.filter { pattern.matches($0.key) }
      guard !hits.isEmpty else {
        throw ModuleError.patternMatchesNothing(
          pattern: pattern.pattern, suggestions: pattern.closeMatches(in: named.map(\.key)))
      }
      for hit in hits where seen.insert(hit.key).inserted { selected.append(hit) }
    }
    return selected
  }

  private func setFrozen(_ frozen: Bool, matching patterns: [String]) throws {
    if !frozen {
      for pattern in patterns where try parameters(matching: [pattern]).allSatisfy(\.parameter.isFixed) {
        throw ModuleError.patternMatchesOnlyFixed(pattern: pattern)
      }
    }
    for (_, parameter) in try parameters(matching: patterns) { parameter.isFrozen = frozen }
  }

  // MARK: State

  /// Parameters and buffers by dotted key (PyTorch's `state_dict`).
  public func state() -> [String: Tensor] {
    var result: [String: Tensor] = [:]
    for (key, parameter) in namedParameters() { result[key] = parameter.value.detached() }
    for (key, buffer) in namedBuffers() { result[key] = buffer.value }
    return result
  }

  /// Loads parameters and buffers by key. Every problem the verification enforces is reported in one error.
  /// Returns what did not match among the relaxed checks.
  @discardableResult
  public func load(parameters state: [String: Tensor], verify: LoadVerification = .all) throws -> LoadReport {
    var report = LoadReport()
    var targets: [String: ([Int], (Tensor) -> Void)] = [:]
    for (key, parameter) in namedParameters() { targets[key] = (parameter.shape, { parameter.assign($0) }) }
    for (key, buffer) in namedBuffers() { targets[key] = (buffer.value.shape, { buffer.value = $0.detached() }) }
    var assignments: [() -> Void] = []
    for key in state.keys.sorted() {
      let tensor = state[key]!
      guard let (shape, assign) = targets[key] else {
        report.unusedKeys.append(key)
        continue
      }
      guard Tensor.elementCount(shape) == tensor.count && (shape == tensor.shape || isScalarLike(shape, tensor.shape))
      else {
        report.shapeMismatches.append((key, shape, tensor.shape))
        continue
      }
      assignments.append { assign(tensor.shape == shape ? tensor : tensor.reshaped(shape)) }
    }
    report.missingKeys = targets.keys.filter { state[$0] == nil }.sorted()
    var enforced = LoadReport()
    if verify.contains(.noUnusedKeys) { enforced.unusedKeys = report.unusedKeys }
    if verify.contains(.noMissingKeys) { enforced.missingKeys = report.missingKeys }
    if verify.contains(.shapes) { enforced.shapeMismatches = report.shapeMismatches }
    guard enforced.isEmpty else { throw ModuleError.loadMismatch(enforced) }
    for assign in assignments { assign() }
    return report
  }

  /// A 0-d tensor and a one-element 1-d tensor are interchangeable (older checkpoints store scalars as [1]).
  private func isScalarLike(_ lhs: [Int], _ rhs: [Int]) -> Bool {
    lhs.reduce(1, *) == 1 && rhs.reduce(1, *) == 1 && lhs.count <= 1 && rhs.count <= 1
  }

  // MARK: Printing

  /// The layer's name in printed trees: the Swift type name.
  open var typeName: String { String(describing: type(of: self)) }

  /// Hyper-parameters shown in printed trees, e.g. "in: 3, out: 4, bias: true".
  open var hyperParameters: String { "" }

  public var description: String { treeDescription(name: nil, indent: "") }

  func treeDescription(name: String?, indent: String) -> String {
    let label = name.map { "(\($0)): " } ?? ""
    let counts =
      parameterCount == 0
      ? ""
      : "  [\(Module.formatCount(parameterCount)) params"
        + (trainableParameterCount == parameterCount
          ? "]" : ", \(Module.formatCount(trainableParameterCount)) trainable]")
    let head = "\(indent)\(label)\(typeName)(\(hyperParameters))\(counts)"
    guard !childEntries.isEmpty else { return head }
    let body = childEntries.map { $0.module.treeDescription(name: $0.name, indent: indent + "  ") }
    return ([head] + body).joined(separator: "\n")
  }

  public static func formatCount(_ count: Int) -> String {
    switch count {
    case 1_000_000...: return String(format: "%.2fM", Double(count) / 1e6)
    case 10_000...: return String(format: "%.1fK", Double(count) / 1e3)
    default: return "\(count)"
    }
  }
}

/// A module that draws random numbers in training (dropout, drop path).
public protocol Reseedable: AnyObject {
  /// Restarts its random sequence from `seed`.
  func reseed(_ seed: UInt64)
}

extension Module {
  /// Reseeds every `Reseedable` module from `seed` and its position in the tree, so a training step's randomness
  /// depends only on the seed and not on the steps before it (resumed runs then match uninterrupted ones).
  public func reseedRandomModules(_ seed: UInt64) {
    for (index, entry) in namedModules().enumerated() {
      (entry.module as? Reseedable)?.reseed(seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index))
    }
  }
}
