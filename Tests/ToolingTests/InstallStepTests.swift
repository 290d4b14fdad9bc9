import Foundation
import TensorCoreTestSupport
import XCTest

/// `make deps` runs scripts/install-deps.sh. These tests run it against stub `apt-get`, `sudo` and `id` commands, so
/// the exact command a fresh machine would run is parsed and executed without touching the system.
final class InstallStepTests: XCTestCase {
  private let neverInstalled = "glip-test-package-that-is-never-installed"
  private var stubs: URL!

  override func setUpWithError() throws {
    guard FileManager.default.fileExists(atPath: "/usr/bin/dpkg-query") else {
      throw XCTSkip("dpkg-query not found: the install step is for Debian and Ubuntu")
    }
    stubs = FileManager.default.temporaryDirectory.appendingPathComponent("install-step-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: stubs, withIntermediateDirectories: true)
    // apt-get records each call with the DEBIAN_FRONTEND it saw; sudo marks that it ran and passes the command on.
    try stub("apt-get", #"echo "apt-get $* frontend=${DEBIAN_FRONTEND:-unset}" >> "$STUB_LOG""#)
    try stub("sudo", #"echo "sudo" >> "$STUB_LOG"; exec "$@""#)
  }

  override func tearDownWithError() throws {
    if let stubs { try? FileManager.default.removeItem(at: stubs) }
  }

  func testDryRunAsRootPrintsACommandThatParsesAndInstallsTheMissingPackage() throws {
    try stub("id", "echo 0")
    let command = try run(["--dry-run", "pkg-config", neverInstalled]).output
    XCTAssertFalse(command.contains("sudo"), command)
    XCTAssertFalse(command.contains(" pkg-config"), "an installed package is not reinstalled: \(command)")
    XCTAssertEqual(try shell(["-n", "-c", command]).status, 0, "sh -n rejects: \(command)")
    XCTAssertEqual(try shell(["-c", command]).status, 0)
    XCTAssertEqual(
      try log(),
      [
        "apt-get update frontend=noninteractive",
        "apt-get install -y \(neverInstalled) frontend=noninteractive",
      ])
  }

  func testAsANormalUserItInstallsThroughSudo() throws {
    try stub("id", "echo 1000")
    let command = try run(["--dry-run", neverInstalled]).output
    XCTAssertTrue(command.hasPrefix("sudo "), command)
    XCTAssertEqual(try run([neverInstalled]).status, 0)
    XCTAssertEqual(
      try log(),
      [
        "sudo", "apt-get update frontend=noninteractive",
        "sudo", "apt-get install -y \(neverInstalled) frontend=noninteractive",
      ])
  }

  func testNothingRunsWhenEveryPackageIsInstalled() throws {
    try stub("id", "echo 0")
    let result = try run(["pkg-config"])
    XCTAssertEqual(result.status, 0)
    XCTAssertEqual(result.output, "")
    XCTAssertEqual(try log(), [])
  }

  func testANameThatIsNoPackageNameIsRejected() throws {
    let result = try run(["libfoo; rm -rf /"])
    XCTAssertEqual(result.status, 2)
    XCTAssertEqual(try log(), [])
  }

  // MARK: - helpers

  private func stub(_ name: String, _ body: String) throws {
    let path = stubs.appendingPathComponent(name)
    try "#!/bin/sh\n\(body)\n".write(to: path, atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path.path)
  }

  private func log() throws -> [String] {
    let path = stubs.appendingPathComponent("calls.log")
    guard FileManager.default.fileExists(atPath: path.path) else { return [] }
    return try String(contentsOf: path, encoding: .utf8).split(separator: "\n").map(String.init)
  }

  private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
    try execute(Fixtures.repository.appendingPathComponent("scripts/install-deps.sh").path, arguments)
  }

  private func shell(_ arguments: [String]) throws -> (status: Int32, output: String) {
    try execute("/bin/sh", arguments)
  }

  private func execute(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["PATH"] = stubs.path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
    environment["STUB_LOG"] = stubs.appendingPathComponent("calls.log").path
    environment.removeValue(forKey: "DEBIAN_FRONTEND")
    process.environment = environment
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines))
  }
}
