import Foundation
import TensorCore
import XCTest

/// Locates files under `Tests/Fixtures/`.
public enum Fixtures {
  public static let directory: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

  public static func path(_ relative: String) -> String { directory.appendingPathComponent(relative).path }

  /// The repository root (the parent of `Tests/`).
  public static let repository: URL = directory.deletingLastPathComponent().deletingLastPathComponent()

  /// The path of a file under `pretrained/` (fetched by scripts/fetch-weights.sh). When it is missing the test is
  /// skipped with a message, except under `CI=true`, where `.ci/run` fetches the weights and a missing file fails.
  public static func pretrained(_ relative: String) throws -> String {
    let path = repository.appendingPathComponent("pretrained/" + relative).path
    guard FileManager.default.fileExists(atPath: path) else {
      if ProcessInfo.processInfo.environment["CI"] == "true" {
        throw PretrainedWeightsMissing(relative: relative)
      }
      throw XCTSkip("pretrained/\(relative) not fetched (run scripts/fetch-weights.sh)")
    }
    return path
  }
}

/// A pretrained file missing under CI, where it must have been fetched.
public struct PretrainedWeightsMissing: Error, CustomStringConvertible {
  public let relative: String
  public var description: String {
    "pretrained/\(relative) is missing under CI: scripts/fetch-weights.sh must run first"
  }
}

/// One case of an op fixture written by `scripts/reference/ops.py`.
public struct OpFixtureCase {
  public let name: String
  public let op: String
  public let args: [String: Any]
  public let inputs: [Tensor]
  public let outputs: [Tensor]
  public let outputGrads: [Int: Tensor]
  public let inputGrads: [Int: Tensor]

  public func int(_ key: String) -> Int { (args[key] as? NSNumber)?.intValue ?? fail(key) }
  public func float(_ key: String) -> Float { (args[key] as? NSNumber)?.floatValue ?? fail(key) }
  public func bool(_ key: String) -> Bool { (args[key] as? Bool) ?? fail(key) }
  public func string(_ key: String) -> String { (args[key] as? String) ?? fail(key) }
  public func ints(_ key: String) -> [Int] { (args[key] as? [NSNumber])?.map(\.intValue) ?? fail(key) }
  public func floats(_ key: String) -> [Float] { (args[key] as? [NSNumber])?.map(\.floatValue) ?? fail(key) }
  public func has(_ key: String) -> Bool { args[key] != nil && !(args[key] is NSNull) }

  /// An input's values as integers (indices are stored as Float32).
  public func indices(_ input: Int) -> [Int] { inputs[input].scalars.map { Int($0) } }

  private func fail<T>(_ key: String) -> T {
    fatalError("fixture case \(name): argument '\(key)' missing or of the wrong type in \(args)")
  }
}

/// Runs every case of `Tests/Fixtures/ops/<group>.safetensors` through `dispatch` and compares forward outputs and,
/// where the fixture has them, input gradients with PyTorch's.
public enum OpFixtures {
  public static func load(group: String) throws -> [OpFixtureCase] {
    let file = try SafetensorsFile.read(path: Fixtures.path("ops/\(group).safetensors"))
    return try file.metadata.keys.sorted().map { name in
      guard let json = file.metadata[name]?.data(using: .utf8),
        let entry = try JSONSerialization.jsonObject(with: json) as? [String: Any],
        let op = entry["op"] as? String
      else { throw SafetensorsError(path: group, reason: "bad metadata for case \(name)") }
      func collect(_ kind: String) -> [Int: Tensor] {
        var found: [Int: Tensor] = [:]
        for (key, tensor) in file.tensors where key.hasPrefix("\(name).\(kind).") {
          if let index = Int(key.dropFirst(name.count + kind.count + 2)) { found[index] = tensor }
        }
        return found
      }
      let inputs = collect("in"), outputs = collect("out")
      return OpFixtureCase(
        name: name, op: op, args: entry["args"] as? [String: Any] ?? [:],
        inputs: inputs.keys.sorted().map { inputs[$0]! }, outputs: outputs.keys.sorted().map { outputs[$0]! },
        outputGrads: collect("gout"), inputGrads: collect("grad"))
    }
  }

  /// `dispatch` maps a case and its (grad-enabled where checked) inputs to the op's outputs; it returns nil for an
  /// op it does not know, which fails the test.
  public static func run(
    group: String, forwardTolerance: Float = 1e-5, gradientTolerance: Float = 1e-4,
    file: StaticString = #filePath, line: UInt = #line,
    dispatch: (OpFixtureCase, [Tensor]) throws -> [Tensor]?
  ) throws {
    let cases = try load(group: group)
    XCTAssertFalse(cases.isEmpty, "no cases in fixture group \(group)", file: file, line: line)
    for fixture in cases {
      var inputs = fixture.inputs
      for index in fixture.inputGrads.keys { inputs[index].requiresGrad = true }
      guard let outputs = try dispatch(fixture, inputs) else {
        XCTFail("\(group)/\(fixture.name): op '\(fixture.op)' not handled", file: file, line: line)
        continue
      }
      guard outputs.count >= fixture.outputs.count else {
        XCTFail(
          "\(group)/\(fixture.name): \(outputs.count) outputs, expected \(fixture.outputs.count)", file: file,
          line: line)
        continue
      }
      for (index, expected) in fixture.outputs.enumerated() {
        assertClose(
          outputs[index], expected, tolerance: forwardTolerance, "\(group)/\(fixture.name) output \(index)",
          file: file, line: line)
      }
      guard !fixture.inputGrads.isEmpty else { continue }
      for (index, seed) in fixture.outputGrads.sorted(by: { $0.key < $1.key }) where outputs[index].requiresGrad {
        outputs[index].backward(seed, retainGraph: true)
      }
      for (index, expected) in fixture.inputGrads {
        guard let grad = inputs[index].grad else {
          XCTFail("\(group)/\(fixture.name): no gradient for input \(index)", file: file, line: line)
          continue
        }
        assertClose(
          grad, expected, tolerance: gradientTolerance, "\(group)/\(fixture.name) gradient of input \(index)",
          file: file, line: line)
      }
    }
  }
}
