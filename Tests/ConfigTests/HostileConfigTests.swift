import Config
import Foundation
import XCTest

/// Configs crafted to exhaust the stack or memory fail with a positioned error instead.
final class HostileConfigTests: XCTestCase {
  func testDeepNestingIsRefusedAtItsPosition() {
    let depth = 20_000
    let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    XCTAssertThrowsError(try YAMLParser.parse("model: " + text, file: "deep.yaml")) { error in
      XCTAssertTrue("\(error)".hasPrefix("deep.yaml:1:"), "\(error)")
      XCTAssertTrue("\(error)".contains("nest deeper than 256 levels"), "\(error)")
    }
    let limits = YAMLLimits(maxDepth: 4, maxNodes: 100)
    XCTAssertNoThrow(try YAMLParser.parse("a: [[[1]]]", file: "ok.yaml", limits: limits))
    XCTAssertThrowsError(try YAMLParser.parse("a: [[[[1]]]]", file: "deep.yaml", limits: limits))
  }

  func testAliasBombIsRefusedBeforeExpanding() {
    var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in 1...9 {
      let previous = "*a\(level - 1)"
      lines.append("a\(level): &a\(level) [" + Array(repeating: previous, count: 10).joined(separator: ", ") + "]")
    }
    XCTAssertThrowsError(try YAMLParser.parse(lines.joined(separator: "\n"), file: "bomb.yaml")) { error in
      XCTAssertTrue("\(error)".hasPrefix("bomb.yaml:"), "\(error)")
      XCTAssertTrue("\(error)".contains("more than 1000000 values through its aliases"), "\(error)")
    }
    XCTAssertNoThrow(try YAMLParser.parse(lines.prefix(3).joined(separator: "\n"), file: "small.yaml"))
  }

  func testSymlinkLoopInBaseIsReportedAsALoop() throws {
    let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("glip-loop-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    try FileManager.default.createSymbolicLink(
      atPath: directory.appendingPathComponent("loop.yaml").path, withDestinationPath: "loop.yaml")
    let config = directory.appendingPathComponent("run.yaml")
    try "_base_: loop.yaml\n".write(to: config, atomically: true, encoding: .utf8)
    XCTAssertThrowsError(try ConfigLoader.load(path: config.path)) { error in
      XCTAssertTrue("\(error)".contains("run.yaml:1:9: _base_ file "), "\(error)")
      XCTAssertTrue("\(error)".hasSuffix("loop.yaml is a symlink loop"), "\(error)")
    }
    // A cycle through a symlink is a cycle, not unbounded recursion.
    try FileManager.default.createSymbolicLink(
      atPath: directory.appendingPathComponent("alias.yaml").path, withDestinationPath: "run2.yaml")
    let second = directory.appendingPathComponent("run2.yaml")
    try "_base_: alias.yaml\n".write(to: second, atomically: true, encoding: .utf8)
    XCTAssertThrowsError(try ConfigLoader.load(path: second.path)) { error in
      XCTAssertTrue("\(error)".contains("_base_ inheritance cycle"), "\(error)")
    }
    // The config file itself a loop: named as a loop, not as missing.
    let top = directory.appendingPathComponent("loop.yaml").path
    XCTAssertThrowsError(try LoadedConfig(path: top)) { error in
      XCTAssertEqual("\(error)", "config file \(top) is a symlink loop")
    }
    XCTAssertThrowsError(try LoadedConfig(path: directory.appendingPathComponent("absent.yaml").path)) { error in
      XCTAssertTrue("\(error)".hasPrefix("config file not found: "), "\(error)")
    }
  }

  func testBoundedIntegerKeysRefuseHugeValues() throws {
    let key = ConfigKey<Int>("channels", default: 8, range: 1...16384, "width")
    let listKey = ConfigKey<[Int]>("widths", default: [8], range: 1...16384, "widths")
    let root = try YAMLParser.parse("channels: 99999999999\nwidths: [8, 4294967296]\n", file: "big.yaml")
    let section = ConfigSection(root: root)
    XCTAssertThrowsError(try section.read(key)) { error in
      XCTAssertEqual("\(error)", "big.yaml:1:11: channels: 99999999999 is outside the allowed range 1…16384")
    }
    XCTAssertThrowsError(try section.read(listKey)) { error in
      XCTAssertEqual("\(error)", "big.yaml:2:9: widths: 4294967296 is outside the allowed range 1…16384")
    }
    XCTAssertEqual(key.documentation.type, "an integer in 1…16384")
  }
}
